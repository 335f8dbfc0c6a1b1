"""Accuracy benchmark: every set in ../shared/eval plus the project's own labelled set.

    .venv/bin/python bench/accuracy.py [--sets NAME ...] [--json OUT]

The AuroraBoutique FAQ is also asked across languages: its English side alone with the labelled
Japanese questions (`aurora_en<ja`), and its Japanese side with the English ones (`aurora_ja<en`).

For each set: builds the index (embedding cache in .cache/embeddings), runs every query through
the engine's search path, with --leave-gold-out where the set has no out-of-scope queries, and
prints one table beside two baselines computed in the same run from the same index — BM25 only
(the lexical side alone) and dense only (best-phrasing cosine alone) — and the published figures
from ../shared/eval/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurora_faq.build import build_engine  # noqa: E402
from aurora_faq.encoders import DEFAULT_ENCODER, make_encoder  # noqa: E402
from aurora_faq.engine import Engine  # noqa: E402
from aurora_faq.evaluation import Judged, at_threshold, choose_threshold, engine_search, judge, summarize  # noqa: E402, I001
from aurora_faq.faq import LabelledQuery, read_queries  # noqa: E402
from aurora_faq.ranking import rank  # noqa: E402
from aurora_faq.text import has_content, normalize  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
SETS = {
    "aurora": (ROOT / "data" / "faq.jsonl", ROOT / "data" / "eval" / "aurora_queries.jsonl"),
    **{name: (SHARED / name / "faq.jsonl", SHARED / name / "queries.jsonl")
       for name in ("localgovfaq_ja", "xsid_ja_en", "hwu64_en", "banking77_oos_en", "clinc150_en")},
}
ACROSS = {"aurora_en<ja": ("en", "ja"), "aurora_ja<en": ("ja", "en")}  # FAQ language, question language
SETS |= {name: (ROOT / ".cache" / "sets" / name / "faq.jsonl", ROOT / ".cache" / "sets" / name / "queries.jsonl")
         for name in ACROSS}
PUBLISHED = {
    "localgovfaq_ja": "BM25+BERT SR@1 .635 SR@5 .843 MRR .720; BERT .486/.737/.596",
    "clinc150_en": "in-scope acc / OOS recall: BERT 96.2/52.3; USE-MLP 93.4/49.1",
    "banking77_oos_en": "USE+ConveRT acc 93.36 (full data, no OOS)",
    "hwu64_en": "USE+ConveRT 85.83 (10-shot); ≈92.6 full data",
    "xsid_ja_en": "simple e5+USE R@1 ≈ .85 (measured by an earlier session)",
    "aurora": "—", "aurora_en<ja": "—", "aurora_ja<en": "—",
}


def write_across(name: str) -> None:
    """The AuroraBoutique FAQ in one language and its labelled questions in the other (`ACROSS`)."""
    faq_lang, asked = ACROSS[name]
    faq_path, queries_path = SETS[name]
    faq_path.parent.mkdir(parents=True, exist_ok=True)
    with SETS["aurora"][0].open(encoding="utf-8") as f:
        entries = [json.loads(line) for line in f if line.strip()]
    one = [e | {k: {faq_lang: e[k][faq_lang]} if faq_lang in e[k] else {}
                for k in ("question", "answer", "alternates") if k in e} for e in entries]
    faq_path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in one), encoding="utf-8")
    with SETS["aurora"][1].open(encoding="utf-8") as f:
        queries = [line for line in f if line.strip() and json.loads(line)["lang"] == asked]
    queries_path.write_text("".join(queries), encoding="utf-8")


def baselines(engine: Engine, queries: list[LabelledQuery]) -> dict[str, dict[str, float | None]]:
    """BM25-only and dense-only rankings from the same index, scored with the same metrics."""
    rows: dict[str, list[Judged]] = {"bm25": [], "dense": []}
    asked = [q for q in queries if has_content(q.query)]
    vecs = engine.encoder.encode_queries([normalize(q.query) for q in asked])
    ids = [e.id for e in engine.index.entries]
    for q, v in zip(asked, vecs, strict=True):
        r = rank(engine.index, v, normalize(q.query), engine.params)
        for name, score in (("bm25", r.lexical), ("dense", r.phrase)):
            order = np.argsort(-score, kind="stable")[:20]
            rows[name].append(Judged(q, tuple(ids[r.entries[j]] for j in order), float(score[order[0]]),
                                     "answer", 0.0))
    return {name: summarize(js) for name, js in rows.items()}


def oos_groups(rows: list[Judged]) -> dict[str, float]:
    """Refusal rate per kind of out-of-scope query (BANKING77: in-domain vs off-topic)."""
    groups: dict[str, list[bool]] = {}
    for j in rows:
        if not j.query.relevant:
            groups.setdefault(j.query.id.rsplit("-", 1)[0], []).append(j.decision != "answer")
    return {g: float(np.mean(v)) for g, v in groups.items()}


def chosen_threshold(rows: list[Judged], min_refused: float) -> dict[str, object]:
    """In-scope accuracy and refusal with the answer threshold chosen on the other half of the
    queries (the published CLINC150 protocol picks it on validation data): 2-fold, each half
    scored at the threshold that the other half needed to refuse `min_refused` of its out-of-scope
    queries with the best in-scope accuracy."""
    order = np.random.default_rng(0).permutation(len(rows))
    halves = [[rows[i] for i in order[::2]], [rows[i] for i in order[1::2]]]
    thresholds, got = [], []
    for fit, test in (halves, halves[::-1]):
        thresholds.append(round(choose_threshold(fit, min_refused), 3))
        got.append(at_threshold(test, thresholds[-1]))
    return {"thresholds": thresholds, "min_refused": min_refused,
            **{key: float(np.mean([g[key] or 0.0 for g in got])) for key in ("in_scope_accuracy", "refused_rate")}}


def run_set(name: str, encoder_spec: str, min_refused: float = 0.75) -> dict[str, object]:
    faq, queries_path = SETS[name]
    queries = read_queries(queries_path)
    encoder = make_encoder(encoder_spec)
    cache = ROOT / ".cache" / "embeddings"
    has_oos = any(not q.relevant for q in queries)
    label = name
    started = time.perf_counter()
    engine = build_engine(faq, encoder, cache, cache_size=0)
    built = time.perf_counter() - started
    thresholds = [engine.decision_thresholds.answer]
    if engine.index.manifest["tuning"]["pseudo_queries"] == 0:
        # No alternates to fit on: fit weights and calibration on half the labelled queries and
        # score the other half, both ways (2-fold cross-fitting; no query scores its own fit).
        order = np.random.default_rng(0).permutation(len(queries))
        halves = [[queries[i] for i in order[: len(order) // 2]], [queries[i] for i in order[len(order) // 2 :]]]
        rows, thresholds = [], []  # each fold's index chose its own
        for fit, test in (halves, halves[::-1]):
            fitted = build_engine(faq, encoder, cache, fit, cache_size=0)
            thresholds.append(fitted.decision_thresholds.answer)
            rows += judge(test, engine_search(fitted), leave_gold_out=not has_oos)
        label = f"{name} (2-fold)"
    else:
        rows = judge(queries, engine_search(engine), leave_gold_out=not has_oos)
    ours = summarize(rows)
    chosen = chosen_threshold(rows, min_refused) if has_oos else None
    return {"set": label, "build_s": round(built, 1), "gold_out": not has_oos, "ours": ours, "chosen": chosen,
            "oos_groups": oos_groups(rows), "baselines": baselines(engine, queries),
            "published": PUBLISHED[name], "params": engine.index.manifest.get("retrieval"),
            "answer_threshold": thresholds}


def fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else ("—" if v is None else str(v))


def table(results: list[dict[str, object]]) -> str:
    head = ("| set | system | R@1 | R@5 | MRR | nDCG@10 | AUROC | answered | in-scope acc | refused | ECE |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for res in results:
        ours = res["ours"]
        assert isinstance(ours, dict)
        refused = fmt(ours["refused_rate"])
        groups = res["oos_groups"]
        assert isinstance(groups, dict)
        if len(groups) > 1:
            refused += " (" + ", ".join(f"{g} {v:.3f}" for g, v in sorted(groups.items())) + ")"
        label = f"{res['set']}{' (gold-out)' if res['gold_out'] else ''}"
        at = res.get("answer_threshold")
        system = f"**Aurora FAQ** (answers at ≥ {', '.join(f'{t:.3f}' for t in at)})" if isinstance(at, list) else \
            "**Aurora FAQ**"
        lines.append(f"| {label} | {system} | {fmt(ours['recall_at_1'])} | {fmt(ours['recall_at_5'])} | "
                     f"{fmt(ours['mrr'])} | {fmt(ours['ndcg_at_10'])} | {fmt(ours['auroc'])} | "
                     f"{fmt(ours['answered_rate'])} | {fmt(ours['in_scope_accuracy'])} | {refused} | "
                     f"{fmt(ours['ece'])} |")
        base = res["baselines"]
        assert isinstance(base, dict)
        for bname, b in base.items():
            lines.append(f"| | {bname} only | {fmt(b['recall_at_1'])} | {fmt(b['recall_at_5'])} | "
                         f"{fmt(b['mrr'])} | {fmt(b['ndcg_at_10'])} | | | | | |")
        chosen = res.get("chosen")
        if isinstance(chosen, dict):
            lines.append(f"| | threshold from the other half (≥ {chosen['min_refused']:.0%} refused there: "
                         f"{', '.join(map(str, chosen['thresholds']))}) | | | | | | | "
                         f"{fmt(chosen['in_scope_accuracy'])} | {fmt(chosen['refused_rate'])} | |")
        lines.append(f"| | published | {res['published']} | | | | | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--json", type=Path)
    p.add_argument("--min-refused", type=float, default=0.75,
                   help="out-of-scope refusal the threshold chosen on the other half must reach there")
    args = p.parse_args(argv)
    for name in set(args.sets) & set(ACROSS):
        write_across(name)
    missing = [s for s in args.sets if not SETS[s][0].exists()]
    if missing:
        print(f"missing sets (is ../shared/eval beside the repo?): {missing}", file=sys.stderr)
        return 1
    results = []
    # One BLAS thread, as scripts/evaluate.py and the service run (`Engine`'s docstring).
    with threadpool_limits(limits=1, user_api="blas"):
        for name in args.sets:
            t0 = time.perf_counter()
            results.append(run_set(name, args.encoder, args.min_refused))
            print(f"{name}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            print(table(results[-1:]), file=sys.stderr, flush=True)  # a crash later loses nothing
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
