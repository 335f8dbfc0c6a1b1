"""Score an FAQ + labelled query set through the same search path as /v1/search.

    .venv/bin/python scripts/evaluate.py --faq FILE --queries FILE [--encoder NAME]
        [--json OUT] [--report OUT.md] [--leave-gold-out] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aurora_faq.build import build_engine  # noqa: E402
from aurora_faq.encoders import DEFAULT_ENCODER, make_encoder  # noqa: E402
from aurora_faq.errors import AuroraError  # noqa: E402
from aurora_faq.evaluation import engine_search, http_search, judge, report  # noqa: E402
from aurora_faq.faq import read_queries  # noqa: E402
from aurora_faq.report import table, write_markdown  # noqa: E402

logger = logging.getLogger("evaluate")


def _cache_dir(value: str) -> Path | None:
    return Path(value) if value else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    if args.json:
        args.json.write_text(json.dumps(rep, indent=2, ensure_ascii=False))
    if args.report:
        write_markdown(rep, args.report, f"Evaluation: {args.queries}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
