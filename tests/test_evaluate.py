"""Evaluation metrics on hand-made judgements, the per-style figures and judging targets, `judge`,
the shipped labelled set, and scripts/evaluate.py end to end."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aurora_faq.engine import Decision, SearchResult
from aurora_faq.evaluation import (
    STYLES,
    Judged,
    at_threshold,
    auroc,
    choose_threshold,
    engine_search,
    judge,
    ndcg_at_10,
    report,
    summarize,
)
from aurora_faq.faq import LabelledQuery, read_faq, read_queries
from aurora_faq.query import Query

REPO = Path(__file__).resolve().parents[1]
METRICS = {"queries", "in_scope", "out_of_scope", "recall_at_1", "recall_at_5", "mrr", "ndcg_at_10", "auroc",
           "answered_rate", "wrong_answer_rate", "refused_rate"}


def judged(qid: str, lang: str, relevant: tuple[str, ...], ranked: tuple[str, ...], conf: float,
           decision: str, gold_out: bool = False, grades: dict[str, int] | None = None,
           style: str = "") -> Judged:
    query = LabelledQuery(qid, f"query {qid}", lang, relevant, grades or {}, style)
    return Judged(query, ranked, conf, decision, latency_ms=1.0, gold_out=gold_out)


@pytest.fixture
def rows() -> list[Judged]:
    return [
        judged("q1", "en", ("a",), ("a", "b", "c"), 0.9, "answer"),  # first hit at rank 1
        judged("q2", "en", ("b",), ("a", "b", "c"), 0.6, "answer"),  # rank 2
        judged("q3", "ja", ("c",), ("a", "b", "d", "e", "f", "c"), 0.4, "clarify"),  # rank 6
        judged("q4", "ja", ("d",), ("a", "b", "c"), 0.5, "no_answer"),  # not found
        judged("q5", "en", (), ("a", "b"), 0.9, "answer"),  # out of scope, answered; ties q1
        judged("q6", "ja", (), ("b",), 0.1, "no_answer"),  # out of scope, refused
        judged("q1", "en", ("a",), ("b", "c"), 0.2, "no_answer", gold_out=True),  # q1 with "a" hidden
    ]


def test_summary_by_hand(rows: list[Judged]) -> None:
    s = summarize(rows)
    assert (s["queries"], s["in_scope"], s["out_of_scope"]) == (7, 4, 3)
    assert s["recall_at_1"] == pytest.approx(1 / 4)
    assert s["recall_at_5"] == pytest.approx(2 / 4)
    assert s["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 6 + 0) / 4)
    assert s["ndcg_at_10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(7) + 0) / 4)
    assert s["answered_rate"] == pytest.approx(2 / 4)
    assert s["wrong_answer_rate"] == pytest.approx(1 / 4)  # q2 answered with "a"
    assert s["refused_rate"] == pytest.approx(2 / 3)
    # Correct answers (q1 at .9) against out-of-scope and gold-out (.9 tie, .1, .2); q2-q4 are neither.
    assert s["auroc"] == pytest.approx((0.5 + 1 + 1) / 3)


def test_report_splits_by_language(rows: list[Judged]) -> None:
    rep = report(rows)
    assert set(rep["by_lang"]) == {"en", "ja"}
    en, ja = rep["by_lang"]["en"], rep["by_lang"]["ja"]
    assert (en["queries"], en["in_scope"], en["out_of_scope"]) == (4, 2, 2)
    assert en["recall_at_1"] == pytest.approx(1 / 2)
    assert en["mrr"] == pytest.approx(3 / 4)
    assert en["auroc"] == pytest.approx((0.5 + 1) / 2)
    assert (ja["recall_at_1"], ja["recall_at_5"]) == (0.0, 0.0)
    assert (ja["answered_rate"], ja["refused_rate"]) == (0.0, 1.0)
    assert ja["mrr"] == pytest.approx(1 / 12)
    assert ja["auroc"] is None  # no correct answer to rank
    assert rep["confusions"] == [("b", "a", 1), ("c", "a", 1), ("d", "a", 1)]


def test_report_splits_by_style_in_style_order() -> None:
    rows = [
        judged("r1", "ja", ("a",), ("b", "a"), 0.9, "answer", style="romaji"),  # answered, wrong entry
        judged("r2", "ja", ("a",), ("a", "b"), 0.9, "answer", style="romaji"),
        judged("p1", "ja", ("a",), ("a", "b"), 0.3, "clarify", style="polite"),  # right, not answered
        judged("n1", "en", (), ("a",), 0.8, "answer", style="near-miss"),
        judged("n2", "en", (), ("a",), 0.1, "no_answer", style="near-miss"),
        judged("x1", "en", (), ("a",), 0.1, "clarify", style="a-new-style"),
    ]
    styles = report(rows)["by_style"]
    assert list(styles) == ["polite", "romaji", "near-miss", "a-new-style"]  # STYLES' order, others after
    romaji, polite, near = styles["romaji"], styles["polite"], styles["near-miss"]
    assert (romaji["in_scope"], romaji["recall_at_1"], romaji["answered_rate"], romaji["wrong_answer_rate"]) == \
        (2, 0.5, 1.0, 0.5)
    assert (polite["recall_at_1"], polite["answered_rate"], polite["wrong_answer_rate"]) == (1.0, 0.0, 0.0)
    assert (near["in_scope"], near["out_of_scope"], near["recall_at_1"], near["refused_rate"]) == (0, 2, None, 0.5)
    assert styles["a-new-style"]["refused_rate"] == 1.0  # clarify is not an answer


def test_untagged_rows_are_grouped_only_beside_tagged_ones(rows: list[Judged]) -> None:
    assert report(rows)["by_style"] == {}  # a set with no styles (the shared public sets)
    styles = report([*rows, judged("s", "en", (), ("a",), 0.1, "no_answer", style="off-topic")])["by_style"]
    assert list(styles) == ["off-topic", "untagged"]
    assert styles["untagged"]["queries"] == len(rows)


def test_targets_check_the_issue_figures() -> None:
    rows = [judged(f"e{i}", "en", ("a",), ("a",), 0.9, "answer", style="english") for i in range(19)]
    rows.append(judged("e19", "en", ("a",), ("b", "a"), 0.9, "answer", style="english"))  # the one wrong answer
    rows += [judged("j1", "ja", ("a",), ("a",), 0.3, "clarify", style="romaji"),
             judged("j2", "ja", ("a",), ("b",), 0.2, "no_answer", style="romaji")]
    rows += [judged(f"n{i}", "ja", (), ("a",), 0.1, "no_answer", style="near-miss") for i in range(9)]
    rows.append(judged("n9", "ja", (), ("a",), 0.9, "answer", style="near-miss"))

    got = {t["name"]: (t["value"], t["met"], t["queries"]) for t in report(rows)["targets"]}

    assert got == {
        "top-1, en": (0.95, True, 20),  # on the bound counts as met
        "top-1, ja": (0.5, False, 2),
        "top-1, english": (0.95, True, 20),
        "top-1, romaji": (0.5, False, 2),
        "in-scope answered": (pytest.approx(20 / 22), True, 22),
        "wrong answers (share of in-scope)": (pytest.approx(1 / 22), False, 22),
        "near-miss refused": (0.9, True, 10),
        "other-company refused": (None, None, 0),
        "off-topic refused": (None, None, 0),  # none in the set: nothing to measure
    }


def test_ndcg_uses_grades() -> None:
    j = judged("g", "ja", ("a", "b"), ("b", "x", "a"), 0.5, "answer", grades={"a": 2, "b": 1})
    # DCG = 1/log2(2) + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3)
    assert ndcg_at_10(j) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    perfect = judged("p", "ja", ("a", "b"), ("a", "b"), 0.5, "answer", grades={"a": 2, "b": 1})
    assert ndcg_at_10(perfect) == pytest.approx(1.0)
    beyond_ten = judged("f", "en", ("a",), tuple("bcdefghijk") + ("a",), 0.5, "answer")
    assert ndcg_at_10(beyond_ten) == 0.0


@pytest.mark.parametrize(("pos", "neg", "expected"), [
    ([0.9, 0.8], [0.1, 0.2], 1.0),
    ([0.1], [0.9, 0.8], 0.0),
    ([0.9, 0.5], [0.5, 0.1], (1 + 1 + 0.5 + 1) / 4),  # one tie counts half
    ([0.5, 0.5], [0.5], 0.5),  # all tied
    ([0.7, 0.3, 0.3], [0.3, 0.6], (1 + 1 + 0.5 + 0 + 0.5 + 0) / 6),
])
def test_auroc_by_hand(pos: list[float], neg: list[float], expected: float) -> None:
    assert auroc(pos, neg) == pytest.approx(expected)


def test_auroc_needs_both_classes() -> None:
    assert auroc([], [0.5]) is None
    assert auroc([0.5], []) is None


def test_choose_threshold_by_hand(rows: list[Judged]) -> None:
    # Should not be answered: q5 (0.9), q6 (0.1), q1 gold-out (0.2). Refusing two of three
    # needs t > 0.2; the lowest such threshold among the confidences is 0.4, where q1 (0.9,
    # right) stays answered and q2 (0.6, wrong) does not count: accuracy 1/4 from 0.4 up to
    # 0.9, so the highest threshold with it, 0.9, is chosen. Refusing all three needs t > 0.9.
    assert choose_threshold(rows, 2 / 3) == 0.9
    assert choose_threshold(rows, 1.0) > 0.9
    assert at_threshold(rows, 0.9) == {"threshold": 0.9, "in_scope_accuracy": 0.25, "refused_rate": 2 / 3}
    assert at_threshold(rows, 0.0)["refused_rate"] == 0.0


def test_empty_groups_give_none_not_zero() -> None:
    s = summarize([judged("o", "en", (), ("a",), 0.3, "no_answer")])
    assert s["recall_at_1"] is None and s["mrr"] is None and s["answered_rate"] is None
    assert s["refused_rate"] == 1.0


def test_judge_batches_and_asks_gold_out_only_for_in_scope_queries() -> None:
    queries = [LabelledQuery(f"q{i}", f"text {i}", "en", ("a",) if i % 3 else ()) for i in range(7)]
    calls: list[tuple[list[str], bool]] = []

    def search(batch: list[LabelledQuery], gold_out: bool) -> list[tuple[tuple[str, ...], float, str]]:
        calls.append(([q.id for q in batch], gold_out))
        return [(() if gold_out else ("a",), 0.1 if gold_out else 0.9, "answer") for _ in batch]

    rows = judge(queries, search, leave_gold_out=True, batch=3)

    assert calls == [(["q0", "q1", "q2"], False), (["q3", "q4", "q5"], False), (["q6"], False),
                     (["q1", "q2", "q4"], True), (["q5"], True)]
    assert [(j.query.id, j.gold_out) for j in rows[7:]] == [("q1", True), ("q2", True), ("q4", True),
                                                            ("q5", True)]
    assert all(j.ranked == ("a",) and j.confidence == 0.9 for j in rows[:7])
    assert sum(j.in_scope for j in rows) == 4


class Recorder:
    """Stands in for the engine: records what `engine_search` asks, answers clarify."""

    def __init__(self) -> None:
        self.asked: list[Query] = []
        self.exclude: object = None

    def search_many(self, queries: list[Query], exclude: object = None) -> list[SearchResult]:
        self.asked.extend(queries)
        self.exclude = exclude
        return [SearchResult(q.text, q.lang, Decision.CLARIFY, [], None) for q in queries]


# -- the shipped labelled set -----------------------------------------------------------------

def test_shipped_queries_tag_every_line_with_a_known_style() -> None:
    """The issue's minimum counts of each kind, and in-scope payment-service questions among
    the other companies'."""
    ids = {e.id for e in read_faq(REPO / "data" / "faq.jsonl")[0]}
    queries = read_queries(REPO / "data" / "eval" / "aurora_queries.jsonl")
    assert {q.style for q in queries} == set(STYLES)
    count = Counter(q.style for q in queries)
    assert count["romaji"] >= 12 and count["off-topic"] >= 10
    assert all(count[s] >= 6 for s in STYLES), count
    for style in ("near-miss", "other-company"):
        of_style = [q for q in queries if q.style == style]
        assert sum(not q.relevant for q in of_style) >= 24, style
        assert {q.lang for q in of_style} == {"ja", "en"}, style
    assert {r for q in queries if q.style == "other-company" for r in q.relevant} >= {"amazon-pay-failed"}
    assert not any(q.relevant for q in queries if q.style in ("near-miss", "off-topic"))
    assert {r for q in queries for r in q.relevant} <= ids


def test_style_is_not_shown_to_the_engine() -> None:
    rec = Recorder()
    same = [LabelledQuery("a", "coupon", "en", ("x",), style="romaji"),
            LabelledQuery("b", "coupon", "en", ("x",), style="near-miss"),
            LabelledQuery("c", "coupon", "en", ("x",))]
    engine_search(rec)(same, False)  # type: ignore[arg-type]
    assert rec.asked[0] == rec.asked[1] == rec.asked[2]


# -- scripts/evaluate.py end to end -----------------------------------------------------------

EVAL_QUERIES = [
    {"id": "en-1", "query": "how can I cancel my order", "lang": "en", "relevant": ["cancel-order"],
     "style": "english"},
    {"id": "en-2", "query": "when does my package arrive", "lang": "en", "relevant": ["delivery-time"],
     "style": "english"},
    {"id": "en-3", "query": "where is my tracking number", "lang": "en", "relevant": ["tracking"],
     "style": "english"},
    {"id": "en-4", "query": "what is the capital of France", "lang": "en", "relevant": [], "style": "off-topic"},
    {"id": "ja-1", "query": "注文をキャンセルしたいです", "lang": "ja", "relevant": ["cancel-order"],
     "style": "polite"},
    {"id": "ja-2", "query": "クーポンはどう使う", "lang": "ja", "relevant": ["coupon-how-to"], "style": "casual"},
    {"id": "ja-3", "query": "ラッピングできますか", "lang": "ja", "relevant": ["gift-wrap"], "style": "polite"},
    {"id": "ja-4", "query": "明日の天気を教えて", "lang": "ja", "relevant": [], "style": "off-topic"},
    {"id": "ja-5", "query": "好きな映画は？", "lang": "ja", "relevant": [], "style": "off-topic"},
]


def test_evaluate_cli_writes_json_and_a_report(evaluate_cli: ModuleType, tiny_faq_path: Path, tmp_path: Path,
                                               write_jsonl: Callable[[Path, list[Any]], Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    queries = write_jsonl(tmp_path / "queries.jsonl", EVAL_QUERIES)
    out_json, out_md = tmp_path / "out" / "eval.json", tmp_path / "out" / "eval.md"
    out_json.parent.mkdir()

    code = evaluate_cli.main(["--faq", str(tiny_faq_path), "--queries", str(queries), "--encoder", "fake",
                              "--cache", str(tmp_path / "cache"), "--json", str(out_json),
                              "--report", str(out_md), "--leave-gold-out"])

    assert code == 0
    rep = json.loads(out_json.read_text())
    assert METRICS <= set(rep)
    assert set(rep["by_lang"]) == {"en", "ja"}
    for figures in rep["by_lang"].values():
        assert METRICS <= set(figures)
    # Each in-scope query is asked again with its gold entry hidden: an out-of-scope question.
    assert (rep["queries"], rep["in_scope"], rep["out_of_scope"]) == (9 + 6, 6, 3 + 6)
    assert (rep["by_lang"]["en"]["in_scope"], rep["by_lang"]["en"]["out_of_scope"]) == (3, 1 + 3)
    assert (rep["by_lang"]["ja"]["in_scope"], rep["by_lang"]["ja"]["out_of_scope"]) == (3, 2 + 3)
    for key in ("recall_at_1", "recall_at_5", "mrr", "ndcg_at_10", "answered_rate", "refused_rate"):
        assert 0.0 <= rep[key] <= 1.0, key
    assert rep["recall_at_5"] >= rep["recall_at_1"]
    assert rep["recall_at_5"] == 1.0  # six entries: every gold entry is among the top five or six
    assert list(rep["by_style"]) == ["polite", "casual", "english", "off-topic"]
    polite = rep["by_style"]["polite"]
    # Gold-out rows keep their style: two polite in scope, asked again hidden, are two more out of scope.
    assert (polite["queries"], polite["in_scope"], polite["out_of_scope"]) == (4, 2, 2)
    assert METRICS <= set(polite)
    names = [t["name"] for t in rep["targets"]]
    assert names[:2] == ["top-1, en", "top-1, ja"]
    assert {"top-1, polite", "near-miss refused", "off-topic refused"} <= set(names)
    # The console shows the tables and the checklist; the report too, and points at a PNG beside it.
    out = capsys.readouterr().out
    assert "recall_at_1" in out
    assert re.search(r"^polite +4 +2 ", out, re.M)
    assert re.search(r"^- \[-\] near-miss refused ≥ 0\.90: — over 0 queries, nothing to measure$", out, re.M)
    off_topic = next(t for t in rep["targets"] if t["name"] == "off-topic refused")
    verdict = "met" if off_topic["met"] else "NOT MET"
    assert f"off-topic refused ≥ 0.98: {off_topic['value']:.3f} over 3 queries, {verdict}" in out
    markdown = out_md.read_text(encoding="utf-8")
    assert re.search(r"^\| polite \| 4 \| 2 \| ", markdown, re.M)
    assert "## Judging figures\n\n- [" in markdown
    (png,) = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert (out_md.parent / png).read_bytes().startswith(b"\x89PNG")
    assert list((tmp_path / "cache").iterdir())  # the embedding cache went where it was told


def test_evaluate_cli_fails_cleanly_on_a_bad_faq(evaluate_cli: ModuleType, tmp_path: Path,
                                                 write_jsonl: Callable[[Path, list[Any]], Path],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    faq = write_jsonl(tmp_path / "faq.jsonl", [{"id": "a", "question": {"en": "q"}}])
    queries = write_jsonl(tmp_path / "queries.jsonl", EVAL_QUERIES[:1])
    code = evaluate_cli.main(["--faq", str(faq), "--queries", str(queries), "--encoder", "fake",
                              "--cache", str(tmp_path / "cache"), "--json", str(tmp_path / "eval.json")])
    assert code != 0
    assert "line 1: 'answer' must be an object" in caplog.text
    assert not (tmp_path / "eval.json").exists()


def test_a_query_the_api_would_refuse_counts_as_no_answer() -> None:
    from aurora_faq.evaluation import RANK_DEPTH

    rec = Recorder()
    batch = [LabelledQuery("e", "   ", "en", ("a",)), LabelledQuery("f", "coupon", "en", ("a",)),
             LabelledQuery("g", "\x00", "en", ())]
    out = engine_search(rec)(batch, True)  # type: ignore[arg-type]
    assert out == [((), 0.0, "no_answer"), ((), 0.0, "clarify"), ((), 0.0, "no_answer")]
    assert [(q.text, q.k) for q in rec.asked] == [("coupon", RANK_DEPTH)]
    assert rec.exclude == [["a"]]
