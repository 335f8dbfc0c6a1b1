"""Evaluation metrics on hand-made judgements, `judge`, and scripts/evaluate.py end to end."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aurora_faq.engine import Decision, SearchResult
from aurora_faq.evaluation import Judged, at_threshold, auroc, choose_threshold, judge, ndcg_at_10, report, summarize
from aurora_faq.faq import LabelledQuery

METRICS = {"queries", "in_scope", "out_of_scope", "recall_at_1", "recall_at_5", "mrr", "ndcg_at_10", "auroc",
           "answered_rate", "refused_rate"}


def judged(qid: str, lang: str, relevant: tuple[str, ...], ranked: tuple[str, ...], conf: float,
           decision: str, gold_out: bool = False, grades: dict[str, int] | None = None) -> Judged:
    query = LabelledQuery(qid, f"query {qid}", lang, relevant, grades or {})
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


# -- scripts/evaluate.py end to end -----------------------------------------------------------

EVAL_QUERIES = [
    {"id": "en-1", "query": "how can I cancel my order", "lang": "en", "relevant": ["cancel-order"]},
    {"id": "en-2", "query": "when does my package arrive", "lang": "en", "relevant": ["delivery-time"]},
    {"id": "en-3", "query": "where is my tracking number", "lang": "en", "relevant": ["tracking"]},
    {"id": "en-4", "query": "what is the capital of France", "lang": "en", "relevant": []},
    {"id": "ja-1", "query": "注文をキャンセルしたいです", "lang": "ja", "relevant": ["cancel-order"]},
    {"id": "ja-2", "query": "クーポンはどう使う", "lang": "ja", "relevant": ["coupon-how-to"]},
    {"id": "ja-3", "query": "ラッピングできますか", "lang": "ja", "relevant": ["gift-wrap"]},
    {"id": "ja-4", "query": "明日の天気を教えて", "lang": "ja", "relevant": []},
    {"id": "ja-5", "query": "好きな映画は？", "lang": "ja", "relevant": []},
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
    # The console table is printed; the report points at a PNG that exists beside it.
    assert "recall_at_1" in capsys.readouterr().out
    markdown = out_md.read_text(encoding="utf-8")
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
    from aurora_faq.evaluation import RANK_DEPTH, engine_search
    from aurora_faq.query import Query

    class Recorder:
        def __init__(self) -> None:
            self.asked: list[Query] = []
            self.exclude: object = None

        def search_many(self, queries: list[Query], exclude: object = None) -> list[SearchResult]:
            self.asked.extend(queries)
            self.exclude = exclude
            return [SearchResult(q.text, q.lang, Decision.CLARIFY, [], None) for q in queries]

    rec = Recorder()
    batch = [LabelledQuery("e", "   ", "en", ("a",)), LabelledQuery("f", "coupon", "en", ("a",)),
             LabelledQuery("g", "\x00", "en", ())]
    out = engine_search(rec)(batch, True)  # type: ignore[arg-type]
    assert out == [((), 0.0, "no_answer"), ((), 0.0, "clarify"), ((), 0.0, "no_answer")]
    assert [(q.text, q.k) for q in rec.asked] == [("coupon", RANK_DEPTH)]
    assert rec.exclude == [["a"]]
