"""GET /v1/admin/feedback and /v1/admin/analytics, and the grouping behind them (aurora_faq.grouping)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from app.storage.models import Feedback, utc_now
from app.storage.search_log import SearchRecord
from app.storage.service import Storage
from aurora_faq.encoders import DEFAULT_ENCODER, Encoder, FakeEncoder, make_encoder
from aurora_faq.errors import FAQValidationError
from aurora_faq.faq import Entry, parse_faq, read_faq
from aurora_faq.grouping import ENCODE_CHUNK, draft_entry, group_texts, language_centres, phrasing_key, with_alternates
from aurora_faq.index import FaqIndex
from aurora_faq.text import detect_lang, normalize
from tests.conftest import FAQ_PATH, ClientFactory, CountingEncoder

ADMIN = {"Authorization": "Bearer k"}


def centres_of(index: FaqIndex) -> dict[str, np.ndarray]:
    return language_centres(index.vectors.phrases, index.vectors.phrase_lang)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str | None:
    """The service's database URL: None for SQLite in the test's data directory; with the param
    "postgresql", a fresh PostgreSQL database (skips without PostgreSQL)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("fresh_postgres_url")
        return url
    return None


# The queries that differ by dialect (UTC days, JSON, booleans, keyset paging) on both databases.
ON_BOTH = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def admin(make_client: ClientFactory, database: str | None) -> Iterator[TestClient]:
    """A fake-encoder service with the admin key `k`; searches unlimited."""
    with make_client(admin_key="k", rate_limit_search="", database_url=database) as client:
        yield client


def storage_of(client: TestClient) -> Storage:
    storage: Storage | None = client.app.state.storage  # type: ignore[attr-defined]
    assert storage is not None
    return storage


def log(client: TestClient, query: str, decision: str = "no_answer", *, top: tuple[str, ...] = ("payment-methods",),
        confidence: float = 0.1, at: datetime | None = None, lang: str | None = None) -> str:
    """Store a search as the search route does (masked on the way in); returns its query_id."""
    query_id = uuid.uuid4().hex
    storage_of(client).log.add(SearchRecord(query_id, query, lang or detect_lang(query), decision, list(top),
                                            confidence, 1.0, "v1", created_at=at or utc_now()))
    return query_id


def feedback(client: TestClient, answer_id: str, helpful: bool = True, *, query_id: str | None = None,
             at: datetime | None = None, comment: str | None = None) -> int:
    storage = storage_of(client)
    assert storage.log.flush()
    with storage.sessions.begin() as session:
        row = Feedback(query_id=query_id, answer_id=answer_id, helpful=helpful, comment=comment,
                       created_at=at or utc_now())
        session.add(row)
        session.flush()
        return row.id


def analytics(client: TestClient, **params: Any) -> dict[str, Any]:
    assert storage_of(client).log.flush()
    response = client.get("/v1/admin/analytics", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pages(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of the feedback export, following `next`."""
    out: list[dict[str, Any]] = []
    while not out or out[-1]["next"] is not None:
        after = {"after": out[-1]["next"]} if out else {}
        response = client.get("/v1/admin/feedback", headers=ADMIN, params={**params, **after})
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


# -- access --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/admin/feedback", "/v1/admin/analytics"])
def test_the_admin_routes_need_the_key(admin: TestClient, path: str) -> None:
    assert admin.get(path).status_code == 401
    assert admin.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert admin.get(path, headers=ADMIN).status_code == 200


# -- the feedback export -------------------------------------------------------------------------

@ON_BOTH
def test_pages_hold_every_row_once_even_when_many_share_a_timestamp(admin: TestClient) -> None:
    t0 = datetime(2030, 5, 1, 12, tzinfo=UTC)
    feedback(admin, "cancel-order", at=t0 - timedelta(days=1))  # before `since`
    same = [feedback(admin, "cancel-order", i % 2 == 0, at=t0) for i in range(20)]
    later = [feedback(admin, "delivery-time", at=t0 + timedelta(seconds=1)) for _ in range(5)]
    last = feedback(admin, "returns-and-exchanges", at=t0 + timedelta(seconds=2))
    result = pages(admin, limit=7, since="2030-05-01T00:00:00Z")
    ids = [item["id"] for page in result for item in page["items"]]
    assert ids == [*same, *later, last]
    assert [len(page["items"]) for page in result] == [7, 7, 7, 5]
    # A full last page ends the listing: no empty page to fetch.
    assert [len(page["items"]) for page in pages(admin, limit=13, since="2030-05-01T00:00:00")] == [13, 13]


def test_rows_stored_while_paging_come_on_a_later_page(admin: TestClient) -> None:
    first = [feedback(admin, "cancel-order") for _ in range(3)]
    page = admin.get("/v1/admin/feedback", params={"limit": 2}, headers=ADMIN).json()
    assert [item["id"] for item in page["items"]] == first[:2]
    added = feedback(admin, "cancel-order", False)
    rest = admin.get("/v1/admin/feedback", params={"limit": 2, "after": page["next"]}, headers=ADMIN).json()
    assert [item["id"] for item in rest["items"]] == [first[2], added]
    assert rest["next"] is None


@ON_BOTH
def test_an_item_carries_its_masked_comment_and_search(admin: TestClient) -> None:
    search = admin.get("/v1/search", params={"q": "返品したい taro@example.com"}).json()
    assert storage_of(admin).log.flush()
    created = admin.post("/v1/feedback", json={"query_id": search["query_id"], "answer_id": "returns-and-exchanges",
                                               "helpful": False, "comment": "電話は090-1234-5678"})
    assert created.status_code == 201
    [item] = admin.get("/v1/admin/feedback", headers=ADMIN).json()["items"]
    assert item == {"id": created.json()["id"], "query_id": search["query_id"], "answer_id": "returns-and-exchanges",
                    "helpful": False, "comment": "電話は<phone>", "created_at": item["created_at"],
                    "query": "返品したい <email>", "lang": "ja"}
    assert datetime.fromisoformat(item["created_at"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize("params", [
    {"after": "abc"}, {"after": -1}, {"since": "0.5"}, {"since": "1700000000"},
    {"limit": 0}, {"limit": 1001}, {"since": "last tuesday"},
])
def test_a_bad_page_request_is_refused_in_the_envelope(admin: TestClient, params: dict[str, Any]) -> None:
    response = admin.get("/v1/admin/feedback", params=params, headers=ADMIN)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert next(iter(params)) in error["message"]


def test_analytics_days_are_1_to_365(admin: TestClient) -> None:
    for days in (0, 366):
        assert admin.get("/v1/admin/analytics", params={"days": days}, headers=ADMIN).status_code == 422


# -- rates, helpfulness, hits, top queries --------------------------------------------------------

@ON_BOTH
def test_decision_rates_per_day_and_language(admin: TestClient) -> None:
    now = utc_now()
    today, yesterday = now.date(), (now - timedelta(days=1)).date()
    noon_yesterday = datetime.combine(yesterday, datetime.min.time(), UTC) + timedelta(hours=12)
    for decision in ("answer", "answer", "answer", "no_answer"):
        log(admin, "送料はいくらですか", decision, at=noon_yesterday)
    log(admin, "how much is shipping", "clarify", at=now)
    log(admin, "how much is shipping", "answer", at=now)
    log(admin, "送料はいくらですか", "no_answer", at=now)
    log(admin, "送料はいくらですか", "answer", at=now - timedelta(days=40))
    body = analytics(admin)
    assert body["daily"] == [
        {"day": str(yesterday), "lang": "ja", "searches": 4, "answer_rate": 0.75, "clarify_rate": 0.0,
         "no_answer_rate": 0.25},
        {"day": str(today), "lang": "en", "searches": 2, "answer_rate": 0.5, "clarify_rate": 0.5,
         "no_answer_rate": 0.0},
        {"day": str(today), "lang": "ja", "searches": 1, "answer_rate": 0.0, "clarify_rate": 0.0,
         "no_answer_rate": 1.0},
    ]
    assert body["totals"] == [
        {"lang": "en", "searches": 2, "answer_rate": 0.5, "clarify_rate": 0.5, "no_answer_rate": 0.0},
        {"lang": "ja", "searches": 5, "answer_rate": 0.6, "clarify_rate": 0.0, "no_answer_rate": 0.4},
    ]
    assert body["period"]["since"].startswith(str(today - timedelta(days=29)))
    assert [d["searches"] for d in analytics(admin, days=1)["daily"]] == [2, 1]
    assert sum(t["searches"] for t in analytics(admin, days=60)["totals"]) == 8


@ON_BOTH
def test_helpful_rate_per_entry_and_entries_never_the_answer(admin: TestClient, faq: dict[str, Any]) -> None:
    log(admin, "キャンセルしたい", "answer", top=("cancel-order", "delivery-time"), confidence=0.9)
    log(admin, "海外発送", "no_answer", top=("overseas-shipping",))  # top-1 of an unanswered search: not a hit
    log(admin, "配送", "clarify", top=("delivery-time", "cancel-order"), confidence=0.3)
    log(admin, "old", "answer", top=("returns-and-exchanges",), at=utc_now() - timedelta(days=31))
    for helpful in (True, True, True, False):
        feedback(admin, "cancel-order", helpful)
    feedback(admin, "payment-methods", False)
    feedback(admin, "delivery-time", True)
    body = analytics(admin)
    assert body["helpful"] == [
        {"entry_id": "payment-methods", "category": "payment", "helpful": 0, "unhelpful": 1, "helpful_rate": 0.0},
        {"entry_id": "cancel-order", "category": "order", "helpful": 3, "unhelpful": 1, "helpful_rate": 0.75},
        {"entry_id": "delivery-time", "category": "shipping", "helpful": 1, "unhelpful": 0, "helpful_rate": 1.0},
    ]
    never = [e["id"] for e in body["never_hit"]]
    assert never == [i for i in faq if i != "cancel-order"]
    assert body["never_hit"][0]["question"] == faq[never[0]]["question"]


@ON_BOTH
def test_top_queries_count_the_spellings_of_one_phrasing_together(admin: TestClient) -> None:
    for text in ("ギフト券つかえる？", "ｷﾞﾌﾄ券 使える", "ギフト券使える", "ギフト券使える"):
        log(admin, text)
    log(admin, "送料はいくらですか", "answer")
    log(admin, "送料はいくらですか", "no_answer")
    top = analytics(admin)["top_queries"]
    assert top == [{"text": "ギフト券使える", "searches": 4, "langs": ["ja"], "answer_rate": 0.0},
                   {"text": "送料はいくらですか", "searches": 2, "langs": ["ja"], "answer_rate": 0.5}]


# -- unanswered groups and suggestions -----------------------------------------------------------

GIFT = ["ギフト券使える？", "ギフト券 つかえる", "ｷﾞﾌﾄ券使える", "ギフト券は使えますか"]


@ON_BOTH
def test_unanswered_groups_become_new_entry_lines_from_min_shoppers(admin: TestClient) -> None:
    for text in GIFT:
        log(admin, text, top=("payment-methods",))
    log(admin, "送料はいくらですか", top=("delivery-time",))
    log(admin, "送料はいくらですか", "answer", top=("delivery-time",))  # answered: not in the groups
    body = analytics(admin)
    unanswered = body["unanswered"]
    assert (unanswered["searches"], unanswered["grouped"]) == (5, 5)
    gift, shipping = unanswered["groups"]
    assert gift["shoppers"] == 4
    # Three spellings of one phrasing, shown as the most recent (ties: searches are read newest first).
    assert gift["summary"] == "4 shoppers asked something like \u201cギフト券使える\u201d"
    assert gift["phrasings"] == [{"text": "ギフト券使える", "lang": "ja", "count": 3},
                                 {"text": "ギフト券は使えますか", "lang": "ja", "count": 1}]
    assert (gift["category"], gift["langs"]) == ("payment", ["ja"])
    assert (shipping["shoppers"], shipping["category"]) == (1, "shipping")
    [new] = body["suggestions"]["new_entries"]
    assert new["shoppers"] == 4
    line = json.loads(new["line"])
    assert line["id"].startswith("new-") and line["category"] == "payment"
    assert line["question"] == {"ja": "ギフト券使える"}
    assert line["alternates"] == {"ja": ["ギフト券は使えますか"]}
    assert line["answer"] == {"ja": ""} and "TODO" in line["note"]
    with pytest.raises(FAQValidationError, match="answer.ja"):
        parse_faq([new["line"]])  # refused until the answer is written
    line["answer"]["ja"] = "ギフト券はご利用いただけません。"
    [entry] = parse_faq([json.dumps(line, ensure_ascii=False)])
    assert entry.question == {"ja": "ギフト券使える"}
    assert analytics(admin, min_shoppers=5)["suggestions"]["new_entries"] == []
    assert len(analytics(admin, min_shoppers=1)["suggestions"]["new_entries"]) == 2


@ON_BOTH
def test_helpful_unsure_or_clarified_searches_become_alternates_of_their_entry(
        admin: TestClient, faq: dict[str, Any], settings: Settings) -> None:
    unsure_below = analytics(admin)["suggestions"]["unsure_below"]
    manifest = json.loads((settings.index_path / "manifest.json").read_text())
    assert unsure_below == pytest.approx(manifest["thresholds"]["answer"] + 0.15)
    cancel = ("cancel-order", "delivery-time")

    def confirmed(text: str, decision: str, confidence: float, entry: str = "cancel-order") -> str:
        query_id = log(admin, text, decision, top=cancel, confidence=confidence)
        feedback(admin, entry, True, query_id=query_id)
        return query_id

    confirmed("キャンセルってできる？", "clarify", 0.3)
    confirmed("キャンセルってできる?", "clarify", 0.3)  # the same phrasing, another spelling
    confirmed("how do i call off my order", "answer", unsure_below - 0.01)
    confirmed("注文をキャンセルしたいです！", "clarify", 0.3)  # the entry's own question
    confirmed("cancel order", "clarify", 0.3)  # an existing alternate
    confirmed("stop the order right now", "answer", min(1.0, unsure_below + 0.01))  # sure enough
    confirmed("注文番号 12345678 をキャンセル", "clarify", 0.3)  # masked data stays out of the FAQ
    contradicted = confirmed("キャンセル不可？", "clarify", 0.3)
    feedback(admin, "cancel-order", False, query_id=contradicted)
    log(admin, "キャンセル期限は", "clarify", top=cancel, confidence=0.3)  # no feedback
    feedback(admin, "cancel-order", True)  # picked from suggestions: no search
    confirmed("いつ届くの", "clarify", 0.3, entry="delivery-time")
    suggested = {a["entry_id"]: a for a in analytics(admin)["suggestions"]["alternates"]}
    assert list(suggested) == ["cancel-order", "delivery-time"]  # most shoppers first
    cancel_line = suggested["cancel-order"]
    assert cancel_line["added"] == {"ja": ["キャンセルってできる?"], "en": ["how do i call off my order"]}
    assert cancel_line["shoppers"] == 3
    expected = copy.deepcopy(faq["cancel-order"])
    expected["alternates"]["ja"].append("キャンセルってできる?")
    expected["alternates"]["en"].append("how do i call off my order")
    assert json.loads(cancel_line["line"]) == expected
    assert list(json.loads(cancel_line["line"])) == list(faq["cancel-order"])  # the file's key order
    assert suggested["delivery-time"]["added"] == {"ja": ["いつ届くの"]}


def test_grouping_counts_each_search_and_keeps_spellings_apart_from_meaning(tiny_index: FaqIndex) -> None:
    texts = ["ギフト券使える?", "送料はいくら", "ギフト券 つかえる", "ｷﾞﾌﾄ券使える", "送料はいくら？"]
    grouping = group_texts(texts, FakeEncoder(), centres_of(tiny_index))
    assert [(g.size, g.members) for g in grouping.groups] == [(3, [0, 2, 3]), (2, [1, 4])]
    assert grouping.groups[0].phrasings[0].text == "ギフト券使える?"  # ties: the first seen
    assert grouping.ungrouped == []
    capped = group_texts(texts, FakeEncoder(), centres_of(tiny_index), max_phrasings=1)
    assert [g.members for g in capped.groups] == [[0, 2, 3]]
    assert capped.ungrouped == [1, 4]


def test_grouping_encodes_in_short_calls(counting_encoder: CountingEncoder, tiny_index: FaqIndex) -> None:
    texts = [f"question number {i}" for i in range(2 * ENCODE_CHUNK + 1)]
    grouping = group_texts(texts, counting_encoder, centres_of(tiny_index))
    assert counting_encoder.calls == 3 and sorted(counting_encoder.texts) == sorted(texts)
    assert sorted(i for g in grouping.groups for i in g.members) == list(range(len(texts)))


@pytest.mark.parametrize(("a", "b"), [
    ("ギフト券つかえる？", "ｷﾞﾌﾄ券 使える"),  # width, kana / kanji, punctuation, spaces
    ("返品したい", "へんぴんしたい"),
    ("Gift card?", "gift  card"),
])
def test_spellings_that_read_the_same_are_one_phrasing(a: str, b: str) -> None:
    assert phrasing_key(a) == phrasing_key(b)


def test_different_words_are_different_phrasings() -> None:
    assert phrasing_key("PayPay使える") != phrasing_key("Paidy使える")
    assert phrasing_key("返品したい") != phrasing_key("交換したい")


def test_drafts_leave_masked_text_out_and_take_free_ids(tiny_index: FaqIndex) -> None:
    grouping = group_texts(["<email>に送った", "<email>に送った"], FakeEncoder(), centres_of(tiny_index))
    assert draft_entry(grouping.groups[0], set()) is None
    group = group_texts(["can I pay with a gift card", "gift card?"], FakeEncoder(),
                        centres_of(tiny_index), threshold=1.5).groups[0]
    taken = {"pay-gift-card"}
    draft = draft_entry(group, taken)
    assert draft is not None and draft["id"] == "pay-gift-card-2" and "pay-gift-card-2" in taken
    entry = Entry(id="x", question={"en": "Can I return it?"}, answer={"en": "Yes."},
                  alternates={"en": ["return policy"]})
    obj, added = with_alternates(entry, ["Return policy!", "返品できる？", "send back <order>"])
    assert added == {"ja": ["返品できる？"]}
    assert obj["alternates"] == {"en": ["return policy"], "ja": ["返品できる？"]}


# -- the real model --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_encoder_and_centres() -> tuple[Encoder, dict[str, np.ndarray]]:
    """The bundled encoder, and the centres of data/faq.jsonl's phrasings as its index has them."""
    encoder = make_encoder(DEFAULT_ENCODER)
    entries, _ = read_faq(FAQ_PATH)
    phrasings = [(lang, normalize(text)) for entry in entries for lang, text in entry.phrasings()]
    vectors = encoder.encode_queries([text for _, text in phrasings])
    return encoder, language_centres(vectors, [lang for lang, _ in phrasings])


@pytest.mark.model
def test_the_real_encoder_groups_gift_card_questions_apart_from_shipping(
        real_encoder_and_centres: tuple[Encoder, dict[str, np.ndarray]]) -> None:
    encoder, centres = real_encoder_and_centres
    texts = ["ギフト券つかえる？", "送料はいくらですか", "商品券で払えますか", "ポイントは貯まりますか",
             "領収書を発行してほしい", "how much is shipping"]
    groups = group_texts(texts, encoder, centres).groups
    with_member = {i: next(g for g in groups if i in g.members) for i in range(len(texts))}
    assert with_member[0] is with_member[2]  # the gift-card pair
    assert with_member[1] is not with_member[0]
    assert with_member[1] is with_member[5]  # and shipping in either language
    assert with_member[3] is not with_member[0] and with_member[4] is not with_member[0]
