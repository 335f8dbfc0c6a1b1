"""The FAQ format: loading, validation (every problem, with its line), and the shipped data."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aurora_faq.errors import FAQValidationError, Problem
from aurora_faq.faq import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, parse_faq, read_faq, read_queries

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
REQUIRED_IDS = {
    "payment-methods", "credit-card-declined", "amazon-pay-failed", "paidy-not-approved", "cancel-order",
    "order-not-received", "delivery-time", "tracking-number", "returns-and-exchanges",
    "defective-or-wrong-item", "coupon-how-to", "coupon-after-payment", "change-payment-method",
    "overseas-shipping", "confirmation-email", "confirmation-email-softbank", "confirmation-email-docomo",
    "confirmation-email-au",
}
WriteJsonl = Callable[[Path, list[Any]], Path]


def ok(entry_id: str = "a", **fields: Any) -> dict[str, Any]:
    """A valid entry, with `fields` replacing or adding keys."""
    return {"id": entry_id, "question": {"en": "How do I pay?"}, "answer": {"en": "By card."}, **fields}


def lines(*objs: Any) -> list[str]:
    return [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs]


def problems_of(raw: list[str]) -> list[Problem]:
    with pytest.raises(FAQValidationError) as info:
        parse_faq(raw, "faq.jsonl")
    return info.value.problems


def test_valid_file_loads_with_every_field(tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    full = {"id": "pay", "category": "payment",
            "question": {"ja": "支払い方法は？", "en": "How can I pay?"},
            "answer": {"ja": "カードで払えます。", "en": "By card."},
            "alternates": {"ja": ["払い方", ""], "en": ["payment options"]},
            "tags": ["payment"], "url": "https://example.com/pay", "note": "reviewed"}
    path = write_jsonl(tmp_path / "faq.jsonl", [full, {"id": 7, "question": {"en": "Hi?"},
                                                      "answer": {"en": "Hello."}}])
    path.write_text(path.read_text(encoding="utf-8") + "\n   \n", encoding="utf-8")  # blank lines are skipped

    entries, sha = read_faq(path)

    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [e.id for e in entries] == ["pay", "7"]
    pay = entries[0]
    assert pay.langs == ["ja", "en"]
    assert pay.category == "payment" and pay.tags == ("payment",)
    assert pay.url == "https://example.com/pay" and pay.note == "reviewed"
    # The empty alternate is dropped; the question of each language comes first.
    assert pay.phrasings() == [("ja", "支払い方法は？"), ("en", "How can I pay?"), ("ja", "払い方"),
                               ("en", "payment options")]
    assert entries[1].in_lang("ja") == "en"
    assert pay.in_lang("ja") == "ja"


def test_every_problem_is_reported_with_its_line_in_one_error() -> None:
    raw = lines(
        ok("a"),                                                          # 1 fine
        '{"id": "b", "question": ',                                       # 2 bad JSON
        ok("c", question={"en": "   "}),                                  # 3 empty question
        {"id": "d", "answer": {"en": "x"}},                               # 4 missing question
        ok("e", answer={"en": ""}),                                       # 5 empty answer
        {"id": "f", "question": {"en": "q"}},                             # 6 missing answer
        ok("a"),                                                          # 7 duplicate of line 1
        ok("g", question={"fr": "Comment payer ?"}, answer={"fr": "Par carte."}),  # 8 unknown language
        ok("h", question={"en": "q" * (MAX_QUESTION_CHARS + 1)}),         # 9 question too long
        ok("i", answer={"en": "a" * (MAX_ANSWER_CHARS + 1)}),             # 10 answer too long
        ok("j", priority=3),                                              # 11 unknown field
        ok("k", question="How do I pay?"),                                # 12 question not an object
        ok("l", tags="payment"),                                          # 13 tags not a list
        ok("m", alternates={"en": "pay how"}),                            # 14 alternates not lists
        ok("n", alternates={"en": [3]}),                                  # 15 alternate not text
        ok("o", category=5, url=1),                                       # 16 category and url not text
        ok(["p"]),                                                        # 17 id not text
        ok("q", question={"ja": "払い方", "en": "Pay?"}),                   # 18 languages differ from answer
        "[1, 2]",                                                         # 19 not an object
        ok("r", alternates={"de": ["zahlen"]}),                           # 20 unknown alternate language
        ok("s", alternates={"en": ["x" * (MAX_QUESTION_CHARS + 1)]}),     # 21 alternate too long
    )
    expected = [
        (2, "bad JSON"), (3, "'question.en' is missing or empty"), (4, "'question' must be an object"),
        (5, "'answer.en' is missing or empty"), (6, "'answer' must be an object"),
        (7, "duplicate id 'a' (first on line 1)"), (8, "'question' has unknown language key 'fr'"),
        (8, "'answer' has unknown language key 'fr'"),
        (9, f"'question.en' is {MAX_QUESTION_CHARS + 1} characters"),
        (10, f"'answer.en' is {MAX_ANSWER_CHARS + 1} characters"), (11, "unknown field 'priority'"),
        (12, "'question' must be an object"), (13, "'tags' must be a list of strings"),
        (14, "'alternates.en' must be a list of texts"), (15, "'alternates.en[0]' must be a string"),
        (16, "'category' must be a string"), (16, "'url' must be a string"), (17, "'id' is missing or empty"),
        (18, "'question' and 'answer' must have the same languages"), (19, "each line must be a JSON object"),
        (20, "'alternates' has unknown language key 'de'"),
        (21, f"'alternates.en[0]' is {MAX_QUESTION_CHARS + 1} characters"),
    ]

    problems = problems_of(raw)

    for line, fragment in expected:
        assert any(p.line == line and fragment in p.message for p in problems), (line, fragment, problems)
    assert {p.line for p in problems} == set(range(2, 22))
    assert not any(p.line == 1 for p in problems)


def test_the_error_message_lists_every_problem_with_path_and_line() -> None:
    with pytest.raises(FAQValidationError) as info:
        parse_faq(lines(ok("a"), "{oops", ok("a")), "data/faq.jsonl")
    message = str(info.value)
    assert message.startswith("2 problem(s) in data/faq.jsonl")
    assert "data/faq.jsonl:line 2: bad JSON" in message
    assert "data/faq.jsonl:line 3: duplicate id 'a' (first on line 1)" in message


def test_limits_are_inclusive() -> None:
    entry = ok("a", question={"en": "q" * MAX_QUESTION_CHARS}, answer={"en": "a" * MAX_ANSWER_CHARS},
               alternates={"en": ["x" * MAX_QUESTION_CHARS]})
    assert len(parse_faq(lines(entry))[0].question["en"]) == MAX_QUESTION_CHARS


def test_control_characters_only_count_as_empty() -> None:
    (problem,) = problems_of(lines(ok("a", question={"en": "\x00\x07 \t"})))
    assert problem == Problem(1, "'question.en' is missing or empty")


def test_an_empty_file_is_a_problem_not_an_empty_faq() -> None:
    assert problems_of(["", "  "]) == [Problem(1, "the FAQ has no entries")]


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "faq.jsonl"
    path.write_bytes(json.dumps(ok("a")).encode() + b"\n" + b'{"id": "b", "question": {"ja": "'
                     + "支払い".encode("shift_jis") + b'"}}\n')
    with pytest.raises(FAQValidationError) as info:
        read_faq(path)
    assert info.value.problems == [Problem(2, "not UTF-8")]


def test_line_separator_inside_a_json_string_is_not_a_line_break(tmp_path: Path,
                                                                  write_jsonl: WriteJsonl) -> None:
    answer = {"en": "First line\u2028second line"}
    path = write_jsonl(tmp_path / "faq.jsonl", [ok("a", answer=answer), ok("b")])
    entries, _ = read_faq(path)
    assert [e.id for e in entries] == ["a", "b"]
    assert entries[0].answer["en"] == "First line\u2028second line"


def test_read_queries_parses_labels_grades_and_style(tmp_path: Path, write_jsonl: WriteJsonl) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [
        {"id": "q1", "query": "送料は？", "lang": "ja", "relevant": ["a", 2], "grades": {"a": 2, "2": "1"},
         "style": " near-miss "},
        {"query": "weather?", "lang": "en", "relevant": []},
    ])
    first, second = read_queries(path)
    assert (first.id, first.query, first.lang, first.relevant, first.grades, first.style) == \
        ("q1", "送料は？", "ja", ("a", "2"), {"a": 2, "2": 1}, "near-miss")
    assert (second.id, second.relevant, second.style) == ("2", (), "")  # style is optional


@pytest.mark.parametrize("bad", ['{"query": "no labels"}', '{"query": "q", "relevant": [], "style": ["romaji"]}'])
def test_read_queries_names_the_bad_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "ok", "relevant": []}\n' + bad + "\n", encoding="utf-8")
    with pytest.raises(FAQValidationError) as info:
        read_queries(path)
    assert [p.line for p in info.value.problems] == [2]


@pytest.mark.parametrize("name", sorted(p.name for p in SHARED_EVAL.glob("*") if (p / "faq.jsonl").exists())
                         or ["<none>"])
def test_every_shared_eval_set_loads(name: str) -> None:
    if not (SHARED_EVAL / name / "faq.jsonl").exists():
        pytest.skip(f"no shared eval sets at {SHARED_EVAL} (the shared folder sits beside the repo in CI)")
    entries, _ = read_faq(SHARED_EVAL / name / "faq.jsonl")
    ids = {e.id for e in entries}
    assert len(entries) > 1
    queries = read_queries(SHARED_EVAL / name / "queries.jsonl")
    assert queries
    assert {r for q in queries for r in q.relevant} <= ids


def test_shipped_faq_has_the_required_entries_in_both_languages() -> None:
    entries, _ = read_faq(REPO / "data" / "faq.jsonl")
    assert sorted(e.id for e in entries) == sorted(REQUIRED_IDS)
    for e in entries:
        assert e.langs == ["ja", "en"], e.id
        assert set(e.answer) == {"ja", "en"}, e.id
        for lang in ("ja", "en"):
            assert len(e.alternates.get(lang, [])) >= 5, (e.id, lang)


def test_shipped_queries_cover_both_languages_and_out_of_scope() -> None:
    ids = {e.id for e in read_faq(REPO / "data" / "faq.jsonl")[0]}
    queries = read_queries(REPO / "data" / "eval" / "aurora_queries.jsonl")
    counts = Counter((q.lang, bool(q.relevant)) for q in queries)
    assert counts["ja", True] >= 60
    assert counts["en", True] >= 60
    assert counts["ja", False] + counts["en", False] >= 30
    assert {r for q in queries for r in q.relevant} <= ids
    assert len({q.id for q in queries}) == len(queries)
