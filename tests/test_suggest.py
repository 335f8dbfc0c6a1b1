"""Suggestions as the shopper types: the core `Suggester` on the shop's FAQ, and `GET /v1/suggest`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aurora_faq.faq import parse_faq, read_faq
from aurora_faq.suggest import Suggester
from tests.conftest import FAQ_PATH, REPO

COUPON = {"coupon-how-to", "coupon-after-payment"}


@pytest.fixture(scope="module")
def suggester() -> Suggester:
    """A suggester over data/faq.jsonl."""
    entries, _ = read_faq(FAQ_PATH)
    return Suggester.build(entries)


def ids(found: list[Any]) -> list[str]:
    return [s.id for s in found]


def small_faq(*questions: dict[str, str]) -> Suggester:
    """A suggester over entries `e0`, `e1`, ... with these questions and no alternates."""
    lines = [json.dumps({"id": f"e{i}", "question": q, "answer": dict.fromkeys(q, "-")}, ensure_ascii=False)
             for i, q in enumerate(questions)]
    return Suggester.build(parse_faq(lines))


# -- the core ---------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["クーポ", "くーぽ", "ｸｰﾎﾟ", "coup", "COUP", "Coupon c", "クーポn"],
                         ids=["katakana", "hiragana", "half-width", "english", "upper-case", "two-words", "ime-romaji"])
def test_partial_forms_of_coupon_find_the_coupon_entries_first(suggester: Suggester, typed: str) -> None:
    found = ids(suggester.suggest(typed))
    assert found[0] in COUPON
    assert "coupon-how-to" in found


@pytest.mark.parametrize(("typed", "entry"), [
    ("返", "returns-and-exchanges"),  # one kanji of 返品
    ("追跡番", "tracking-number"),  # cut inside 追跡番号
    ("へんぴん", "returns-and-exchanges"),  # the reading of 返品, before the IME converts it
    ("ついせき", "tracking-number"),  # the reading of 追跡
    ("届か", "order-not-received"),
])
def test_kanji_prefixes_and_their_readings_find_the_entry(suggester: Suggester, typed: str, entry: str) -> None:
    assert entry in ids(suggester.suggest(typed))


def test_questions_are_shown_in_the_language_typed(suggester: Suggester, faq: dict[str, dict[str, Any]]) -> None:
    english = suggester.suggest("coup")[0]
    assert (english.lang, english.question) == ("en", faq[english.id]["question"]["en"])
    japanese = suggester.suggest("クーポ")[0]
    assert (japanese.lang, japanese.question) == ("ja", faq[japanese.id]["question"]["ja"])
    assert japanese.category == faq[japanese.id]["category"]


def test_lang_chooses_the_language_shown(suggester: Suggester, faq: dict[str, dict[str, Any]]) -> None:
    for typed, lang in (("クーポ", "en"), ("coup", "ja")):
        for s in suggester.suggest(typed, lang=lang):
            assert (s.lang, s.question) == (lang, faq[s.id]["question"][lang])


def test_an_entry_without_the_language_is_shown_in_its_own() -> None:
    suggester = small_faq({"ja": "ギフト包装はできますか？"}, {"en": "Gift cards", "ja": "ギフトカード"})
    found = suggester.suggest("ギフト", lang="en")
    assert [(s.id, s.lang, s.question) for s in found] == [("e1", "en", "Gift cards"),
                                                          ("e0", "ja", "ギフト包装はできますか？")]


def test_k_limits_the_suggestions(suggester: Suggester) -> None:
    assert len(suggester.suggest("i", k=10)) > 3
    assert len(suggester.suggest("i", k=3)) == 3
    assert len(suggester.suggest("i", k=1)) == 1
    with pytest.raises(ValueError, match="k must be at least 1"):
        suggester.suggest("i", k=0)


@pytest.mark.parametrize("typed", ["クーポン", "i can't", "注文", "の"])
def test_one_suggestion_an_entry(suggester: Suggester, typed: str) -> None:
    found = ids(suggester.suggest(typed, k=10))
    assert found and len(found) == len(set(found))


@pytest.mark.parametrize("typed", ["", "   ", "\u200b\t", "\n"])
def test_blank_input_suggests_nothing(suggester: Suggester, typed: str) -> None:
    assert suggester.suggest(typed) == []


def test_no_match_suggests_nothing(suggester: Suggester) -> None:
    assert suggester.suggest("zzzq") == []
    assert suggester.suggest("鬱") == []  # a character the FAQ does not hold


def test_start_of_a_question_ranks_above_a_word_start_above_anywhere() -> None:
    # In the FAQ's order the worst match comes first, so order alone cannot explain the result.
    suggester = small_faq({"ja": "未配送の注文はどうなりますか"},  # 配送 inside a word
                          {"ja": "海外の配送料を教えてください"},  # 配送 starts a word
                          {"ja": "配送について"})  # the question starts with it
    assert ids(suggester.suggest("配送")) == ["e2", "e1", "e0"]


def test_within_a_grade_the_shorter_question_first() -> None:
    suggester = small_faq({"ja": "クーポンコードを入力し忘れました"}, {"ja": "クーポンの使い方"})
    assert ids(suggester.suggest("クーポ")) == ["e1", "e0"]


def test_latin_text_and_single_characters_match_word_starts_only() -> None:
    suggester = small_faq({"en": "Can I recoup the fee?"}, {"en": "Where do I enter a coupon?"},
                          {"ja": "返品したい"}, {"ja": "不良品でした"})
    assert ids(suggester.suggest("coup")) == ["e1"]  # not inside "recoup"
    assert ids(suggester.suggest("oupon")) == []
    assert ids(suggester.suggest("品")) == []  # inside 返品 and 不良品
    assert ids(suggester.suggest("返")) == ["e2"]
    assert ids(suggester.suggest("良品")) == ["e3"]  # two characters: anywhere in Japanese


def test_katakana_after_hiragana_starts_a_word() -> None:
    suggester = small_faq({"ja": "期限切れのクーポン"}, {"ja": "クーポンの期限"})
    assert ids(suggester.suggest("く")) == ["e1", "e0"]


# -- the API ----------------------------------------------------------------------------------


@pytest.fixture
def unready_client(make_client: Any, tmp_path: Path) -> Iterator[TestClient]:
    """A client whose index could not be loaded."""
    with make_client(index_path=tmp_path / "missing") as client:
        yield client


def test_api_suggests_questions(client: TestClient, faq: dict[str, dict[str, Any]]) -> None:
    r = client.get("/v1/suggest", params={"q": "ｸｰﾎﾟ"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "lang", "suggestions"}
    assert (body["query"], body["lang"]) == ("ｸｰﾎﾟ", "ja")
    first = body["suggestions"][0]
    assert set(first) == {"id", "question", "lang", "category"}
    assert first["id"] in COUPON
    assert first["question"] == faq[first["id"]]["question"]["ja"]
    assert first["category"] == faq[first["id"]]["category"]


def test_api_k_and_lang(client: TestClient, faq: dict[str, dict[str, Any]]) -> None:
    assert len(client.get("/v1/suggest", params={"q": "i"}).json()["suggestions"]) == 5  # k's default
    assert len(client.get("/v1/suggest", params={"q": "i", "k": 2}).json()["suggestions"]) == 2
    body = client.get("/v1/suggest", params={"q": "クーポ", "lang": "en"}).json()
    assert body["lang"] == "en"
    assert [s["question"] for s in body["suggestions"]] == [faq[s["id"]]["question"]["en"] for s in body["suggestions"]]


def test_api_no_match_is_an_empty_list(client: TestClient) -> None:
    r = client.get("/v1/suggest", params={"q": "zzzq"})
    assert (r.status_code, r.json()["suggestions"], r.json()["lang"]) == (200, [], "en")


@pytest.mark.parametrize("params", [
    {}, {"q": ""}, {"q": "   "}, {"q": "\u200b"}, {"q": "あ" * 201},
    {"q": "coup", "k": 0}, {"q": "coup", "k": 11}, {"q": "coup", "k": "many"}, {"q": "coup", "lang": "fr"},
    {"q": "coup", "category": "coupon"},
], ids=["no-q", "empty", "spaces", "invisible", "too-long", "k-0", "k-11", "k-word", "lang-fr", "unknown-field"])
def test_api_refuses_bad_requests_in_the_envelope(client: TestClient, params: dict[str, Any]) -> None:
    r = client.get("/v1/suggest", params=params)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["message"]


def test_api_sends_its_server_time(client: TestClient) -> None:
    r = client.get("/v1/suggest", params={"q": "coup"})
    assert re.fullmatch(r"suggest;dur=\d+\.\d{3}", r.headers["server-timing"])


def test_api_without_an_index_is_unavailable(unready_client: TestClient) -> None:
    r = unready_client.get("/v1/suggest", params={"q": "coup"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "index_unavailable"
    # A bad request is still told so.
    assert unready_client.get("/v1/suggest", params={"q": " "}).status_code == 422


def test_openapi_documents_the_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/suggest"]["get"]
    assert operation["summary"] == "Suggest FAQ questions for what the shopper has typed so far."
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["q"]["schema"]["maxLength"] == 200
    assert (params["k"]["schema"]["minimum"], params["k"]["schema"]["maximum"]) == (1, 10)
    assert "SuggestResponse" in spec["components"]["schemas"]


# -- the benchmark ----------------------------------------------------------------------------


def test_the_benchmark_runs(index_dir: Path) -> None:
    args = ["--sizes", "300", "--rounds", "1", "--requests", "20", "--index", str(index_dir)]
    out = subprocess.run([sys.executable, "bench/suggest_bench.py", *args], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    assert "GET /v1/suggest, whole app" in out
    assert "shop FAQ p50 <= 1 ms" in out


@pytest.mark.parametrize("typed", ["henpin", "HENPIN", "ｈｅｎｐｉｎ"])
def test_romaji_is_suggested_from_its_kana_reading(client: TestClient, typed: str) -> None:
    body = client.get("/v1/suggest", params={"q": typed}).json()
    assert body["query"] == typed and body["lang"] == "ja"
    assert body["suggestions"][0]["id"] == "returns-and-exchanges"
