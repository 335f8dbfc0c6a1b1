"""The command-line tools, installed as console scripts (`pyproject.toml`):

    aurora-build-index --faq data/faq.jsonl --out index [--encoder e5+use] [--cache DIR]
        [--calibration-queries FILE]
    aurora-evaluate --faq FILE --queries FILE [--encoder NAME] [--json OUT] [--report OUT.md]
        [--leave-gold-out] [--url http://127.0.0.1:8000]

`scripts/build_index.py` and `scripts/evaluate.py` call the same functions.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from threadpoolctl import threadpool_limits

from .build import build_engine, build_index
from .encoders import DEFAULT_ENCODER, make_encoder
from .errors import AuroraError
from .evaluation import engine_search, http_search, judge, report
from .faq import read_queries
from .report import breakdown_table, checklist, table, write_markdown

logger = logging.getLogger(__name__)


def _cache_dir(value: str) -> Path | None:
    return Path(value) if value else None


def _progress(done: int, total: int) -> None:
    logger.info("embedded %d/%d texts", done, total)


def build_index_main(argv: list[str] | None = None) -> int:
    """Build the search index from an FAQ file (`aurora-build-index`).

    Validates first (every problem listed by line, nothing written), then embeds, tunes and
    writes the index atomically. Returns the exit status: non-zero on any failure.
    """
    parser = argparse.ArgumentParser(prog="aurora-build-index", description=build_index_main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faq", type=Path, default=Path("data/faq.jsonl"), help="FAQ JSONL file")
    parser.add_argument("--out", type=Path, default=Path("index"), help="index directory to write")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="e5, use, e5+use, st:MODEL or fake")
    parser.add_argument("--cache", type=_cache_dir, default=Path(".cache/embeddings"),
                        help="embedding cache directory ('' to disable)")
    parser.add_argument("--calibration-queries", type=Path, default=None,
                        help="labelled queries (eval format) added to the calibration fit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        encoder = make_encoder(args.encoder)
        queries = read_queries(args.calibration_queries) if args.calibration_queries else []
        manifest = build_index(args.faq, args.out, encoder, args.cache, queries, _progress)
    except AuroraError as e:
        logger.error("%s", e)
        return 1
    except OSError as e:
        logger.error("cannot build: %s", e)
        return 1
    logger.info("wrote %s: %d entries, %d vectors, encoder %s, %.1f s", args.out, manifest["entries"],
                manifest["vectors"], manifest["encoder"], manifest["build_seconds"]["total"])
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """Score an FAQ and a labelled query set through the same search path as /v1/search
    (`aurora-evaluate`). Returns the exit status.
    """
    p = argparse.ArgumentParser(prog="aurora-evaluate", description=evaluate_main.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faq", type=Path, help="FAQ JSONL (not needed with --url)")
    p.add_argument("--queries", type=Path, required=True, help="labelled queries JSONL")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--cache", type=_cache_dir, default=Path(".cache/embeddings"),
                   help="embedding cache directory ('' to disable)")
    p.add_argument("--calibration-queries", type=Path, help="labelled queries added to the calibration fit")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    p.add_argument("--report", type=Path, help="write a Markdown report (and a reliability PNG) here")
    p.add_argument("--leave-gold-out", action="store_true",
                   help="also ask each in-scope query with its relevant entries hidden")
    p.add_argument("--url", help="evaluate a running service instead of building an index")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    thresholds = None
    # One BLAS thread, as the service runs (app/main.py): e5 takes both cores, and OpenBLAS
    # threads spinning after each small ranking product stall it.
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            queries = read_queries(args.queries)
            if args.url:
                search = http_search(args.url)
            else:
                if not args.faq:
                    p.error("--faq is required unless --url is given")
                calib = read_queries(args.calibration_queries) if args.calibration_queries else []
                engine = build_engine(args.faq, make_encoder(args.encoder), args.cache, calib, cache_size=0)
                search = engine_search(engine)
                thresholds = engine.decision_thresholds
            rep = report(judge(queries, search, leave_gold_out=args.leave_gold_out))
        except (AuroraError, OSError, ValueError) as e:
            logger.error("%s", e)
            return 1
    if thresholds is not None:
        # "answered" and "refused" are at these: the index's own, chosen when it was built.
        rep["thresholds"] = {"answer": thresholds.answer, "clarify": thresholds.clarify}
        print(f"decision thresholds (chosen at build): answer {thresholds.answer:.3f}, "
              f"clarify {thresholds.clarify:.3f}")
    print(table(rep))
    print(f"\nby language and style:\n{breakdown_table(rep)}\n\njudging figures:\n{checklist(rep)}")
    if args.json:
        args.json.write_text(json.dumps(rep, indent=2, ensure_ascii=False))
    if args.report:
        write_markdown(rep, args.report, f"Evaluation: {args.queries}")
    return 0
