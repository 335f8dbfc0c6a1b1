"""Build the search index from an FAQ file.

    .venv/bin/python scripts/build_index.py --faq data/faq.jsonl --out index [--encoder e5+use]

Validates first (every problem listed by line, nothing written), then embeds, tunes and
writes the index atomically. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aurora_faq.build import build_index  # noqa: E402
from aurora_faq.encoders import DEFAULT_ENCODER, make_encoder  # noqa: E402
from aurora_faq.errors import AuroraError  # noqa: E402
from aurora_faq.faq import read_queries  # noqa: E402

logger = logging.getLogger("build_index")


def _progress(done: int, total: int) -> None:
    logger.info("embedded %d/%d texts", done, total)


def _cache_dir(value: str) -> Path | None:
    return Path(value) if value else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


if __name__ == "__main__":
    sys.exit(main())
