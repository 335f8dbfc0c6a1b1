"""Build benchmark: index build time and memory against the encoder alone, rebuild after one edit,
and search time and approximate-index recall at 100,000 entries.

    .venv/bin/python bench/build_bench.py [--sizes 10000,100000] [--encoder e5+use]
                                          [--synthetic-encoder auto] [--budget 900] [--skip-faq]

1. The AuroraBoutique FAQ (data/faq.jsonl), cold (empty embedding cache): `scripts/build_index.py`
   wall time and peak RSS, against a process that only loads the encoder and encodes the same
   texts (every distinct normalized phrasing and built-in background question as a query, answer
   as a document, 128 a call).
2. The same FAQ with one entry's answer edited, rebuilt over the warm cache: time, and how
   many texts were embedded again.
3. Synthetic shop FAQs (bench/synth_faq.py) of each size, built and compared the same way.
   The encoder for them is `--synthetic-encoder`; `auto` measures each candidate's throughput
   on a sample and takes the first of (--encoder, use, fake) whose estimated embedding time
   fits `--budget` seconds, and the table says which it took.
4. For the largest size: `Engine.search` time excluding encoding (query vectors computed
   beforehand) and recall@10 of the approximate (IVF) index against exact search, both of phrasing rows
   (the FAISS index alone; a row scoring at least the exact 10th counts, for ties) and of
   entries (the engine's top 10 with the approximate index against its top 10 with every phrasing scored).

Everything is written to a temporary directory; nothing is committed. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synth_faq  # noqa: E402
from bench.table import machine, markdown  # noqa: E402

logger = logging.getLogger("bench.build")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ENTRIES = 100  # entries encoded to estimate an encoder's throughput
FALLBACK_ENCODERS = ("use", "fake")


@dataclass
class Timed:
    wall_s: float
    peak_rss_mb: float
    output: dict[str, Any]


def run_timed(argv: Sequence[str]) -> Timed:
    """Run a child process; its wall time and its own peak RSS (from wait4's rusage).

    Raises:
        subprocess.CalledProcessError: the child failed (its output in the message).
    """
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, list(argv), text)
    last = text.strip().splitlines()[-1] if text.strip() else "{}"
    try:
        output = json.loads(last)
    except ValueError:
        output = {}
    return Timed(wall, usage.ru_maxrss / 1024, output)


# -- what is measured -------------------------------------------------------------------------

def embedded_texts(faq: Path) -> tuple[list[str], list[str]]:
    """The distinct normalized texts a build of `faq` embeds: as queries its phrasings and the
    built-in background questions (`aurora_faq.build.background_queries`), as documents its answers."""
    from aurora_faq.build import background_queries
    from aurora_faq.faq import read_faq
    from aurora_faq.text import normalize

    entries, _ = read_faq(faq)
    phrases = [normalize(t) for e in entries for _, t in e.phrasings()]
    background = [normalize(q.query) for q in background_queries()]
    answers = [normalize(e.answer[lang]) for e in entries for lang in e.langs]
    return list(dict.fromkeys(phrases + background)), list(dict.fromkeys(answers))


def encode_only(faq: Path, encoder_spec: str) -> dict[str, Any]:
    """Load the encoder and encode what a build of `faq` embeds, in the build's batches."""
    from aurora_faq.encoders import make_encoder

    phrases, answers = embedded_texts(faq)
    started = time.perf_counter()
    encoder = make_encoder(encoder_spec)
    loaded = time.perf_counter()
    for texts, encode in ((phrases, encoder.encode_queries), (answers, encoder.encode_documents)):
        for start in range(0, len(texts), 128):
            encode(texts[start : start + 128])
    done = time.perf_counter()
    return {"texts": len(phrases) + len(answers), "load_s": loaded - started, "encode_s": done - loaded}


def timed_encode_only(faq: Path, encoder: str) -> Timed:
    return run_timed([sys.executable, str(Path(__file__).resolve()), "encode-only", "--faq", str(faq),
                      "--encoder", encoder])


def timed_build(faq: Path, out: Path, encoder: str, cache: Path) -> Timed:
    """`scripts/build_index.py` as a user runs it; `output` is the manifest it wrote."""
    timed = run_timed([sys.executable, "scripts/build_index.py", "--faq", str(faq), "--out", str(out),
                       "--encoder", encoder, "--cache", str(cache)])
    timed.output = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return timed


def edit_one_entry(faq: Path, dst: Path) -> str:
    """Copy `faq` to `dst` with its first entry's answers reworded. Returns that entry's id."""
    lines = faq.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["answer"] = {lang: text + " (updated)" for lang, text in first["answer"].items()}
    dst.write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8")
    return str(first["id"])


def choose_encoder(preferred: str, sample_faq: Path, n_texts: int, budget_s: float) -> tuple[str, float, str]:
    """The first of (preferred, use, fake) whose estimated encoding time fits the budget.

    Returns:
        (encoder spec, its measured texts per second, why it was chosen)
    """
    candidates = list(dict.fromkeys([preferred, *FALLBACK_ENCODERS]))
    for spec in candidates:
        sample = timed_encode_only(sample_faq, spec).output
        rate = sample["texts"] / max(sample["encode_s"], 1e-9)
        estimate = n_texts / rate
        if estimate <= budget_s or spec == candidates[-1]:
            why = (f"{spec}: {rate:.0f} texts/s, est. {estimate:.0f} s for {n_texts} texts"
                   + ("" if spec == preferred else f" ({preferred} est. over the {budget_s:.0f} s budget)"))
            return spec, rate, why
        logger.info("%s: %.0f texts/s, est. %.0f s for %d texts: over budget", spec, rate, estimate, n_texts)
    raise AssertionError("unreachable")


class PrecomputedEncoder:
    """Hands back vectors computed beforehand, so a search times everything but encoding."""

    def __init__(self, name: str, dim: int, vectors: dict[str, np.ndarray]) -> None:
        self.name, self.dim, self._vectors = name, dim, vectors

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])

    encode_documents = encode_queries


@dataclass
class ScaleResult:
    rows: int
    ann: str
    p50_ms: float
    p95_ms: float
    exact_p50_ms: float
    row_recall: float
    entry_recall: float
    queries: int


def search_at_scale(index_dir: Path, encoder_spec: str, queries: Sequence[str]) -> ScaleResult:
    """Search time excluding encoding, and the approximate index's recall@10 against exact search."""
    from threadpoolctl import threadpool_limits

    import aurora_faq.ranking as ranking_module
    from aurora_faq.encoders import make_encoder
    from aurora_faq.engine import Engine
    from aurora_faq.index import load_index
    from aurora_faq.query import Query
    from aurora_faq.text import default_tokenizer, normalize

    encoder = make_encoder(encoder_spec)
    norm = [normalize(q) for q in queries]
    vecs = encoder.encode_queries(norm)
    index = load_index(index_dir, encoder.name, default_tokenizer())
    engine = Engine(index, PrecomputedEncoder(encoder.name, encoder.dim, dict(zip(norm, vecs, strict=True))),
                    cache_size=0)

    def timed_top10() -> tuple[list[float], list[list[str]]]:
        times, tops = [], []
        # One BLAS thread, as the service runs (app/main.py).
        with threadpool_limits(limits=1, user_api="blas"):
            for q in queries:
                t = time.perf_counter()
                result = engine.search(Query.of(q, k=10))
                times.append(time.perf_counter() - t)
                tops.append([h.entry.id for h in result.hits])
        return times, tops

    timed_top10()  # warm caches
    ann_times, ann_tops = timed_top10()
    # rank() reads CANDIDATE_ROWS at call time: above every size, each entry is scored (exact).
    threshold = ranking_module.CANDIDATE_ROWS
    ranking_module.CANDIDATE_ROWS = sys.maxsize
    try:
        exact_times, exact_tops = timed_top10()
    finally:
        ranking_module.CANDIDATE_ROWS = threshold

    q = np.ascontiguousarray(vecs, dtype=np.float32)
    _, ann_rows = index.vectors.ann.search(q, 10)
    sims = q @ index.vectors.phrases.T
    tenth = -np.partition(-sims, 9, axis=1)[:, 9:10]
    # A returned row counts when it scores at least the exact 10th: a catalogue FAQ has many
    # phrasings that score the same, and which of equals an index returns does not matter.
    row_recall = float(np.mean(np.take_along_axis(sims, np.maximum(ann_rows, 0), axis=1) >= tenth - 1e-6))
    entry_recall = np.mean([len(set(a) & set(e)) / max(len(e), 1)
                            for a, e in zip(ann_tops, exact_tops, strict=True)])
    return ScaleResult(len(index.vectors.phrases), type(index.vectors.ann).__name__,
                       float(np.percentile(ann_times, 50) * 1000), float(np.percentile(ann_times, 95) * 1000),
                       float(np.percentile(exact_times, 50) * 1000), float(row_recall), float(entry_recall),
                       len(queries))


# -- the run ----------------------------------------------------------------------------------

@dataclass
class BuildRow:
    faq: str
    entries: int
    texts: int
    encoder: str
    build: Timed
    encode: Timed

    def cells(self) -> list[object]:
        m = self.build.output
        return [self.faq, self.entries, self.texts, self.encoder, self.build.wall_s,
                float(m["build_seconds"]["total"]), self.encode.wall_s, float(self.encode.output["encode_s"]),
                self.build.wall_s / self.encode.wall_s, self.build.peak_rss_mb, self.encode.peak_rss_mb]


BUILD_HEADERS = ["FAQ", "entries", "texts", "encoder", "build wall s", "build_index s", "encode-only wall s",
                 "encode s", "build ÷ encode-only", "build peak RSS MiB", "encode peak RSS MiB"]


def bench_faq(name: str, faq: Path, encoder: str, work: Path) -> BuildRow:
    """Cold build (empty cache) of `faq` against the encoder alone on the same texts."""
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    logger.info("%s: encoder only (%s)", name, encoder)
    encode = timed_encode_only(faq, encoder)
    logger.info("%s: build", name)
    build = timed_build(faq, work / f"index-{name}", encoder, cache)
    return BuildRow(name, int(build.output["entries"]), int(encode.output["texts"]), encoder, build, encode)


def run(args: argparse.Namespace, work: Path) -> str:
    lines = [f"Machine: {machine()}",
             f"Command: {' '.join(['.venv/bin/python', 'bench/build_bench.py', *sys.argv[1:]])}", ""]
    faq = REPO / args.faq
    rows, rebuild, entry_id, cache_stats = [], None, "", {}
    if not args.skip_faq:
        rows.append(bench_faq("AuroraBoutique", faq, args.encoder, work))
        edited = work / "faq-edited.jsonl"
        entry_id = edit_one_entry(faq, edited)
        logger.info("AuroraBoutique: rebuild after editing %s", entry_id)
        rebuild = timed_build(edited, work / "index-AuroraBoutique", args.encoder, work / "cache-AuroraBoutique")
        cache_stats = rebuild.output["embedding_cache"]

    notes, scale = [], None
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        name = f"synthetic {size:,}"
        path = synth_faq.write_faq(work / f"synthetic-{size}.jsonl", size)
        encoder = args.synthetic_encoder
        if encoder == "auto":
            sample = synth_faq.write_faq(work / "sample.jsonl", SAMPLE_ENTRIES)
            n_texts = sum(map(len, embedded_texts(path)))
            encoder, _, why = choose_encoder(args.encoder, sample, n_texts, args.budget)
            notes.append(f"{name}: {why}")
        rows.append(bench_faq(name, path, encoder, work))
        if size == max(sizes):
            logger.info("%s: search and recall", name)
            scale = (name, encoder, search_at_scale(work / f"index-{name}", encoder,
                                                    synth_faq.queries(args.queries)))

    lines += [markdown(BUILD_HEADERS, [r.cells() for r in rows]), ""]
    if rebuild is not None:
        lines += [markdown(["rebuild", "texts re-embedded", "cache hits", "wall s", "build_index s"],
                           [[f"AuroraBoutique, entry {entry_id} answer edited", int(cache_stats["misses"]),
                             int(cache_stats["hits"]), rebuild.wall_s,
                             float(rebuild.output["build_seconds"]["total"])]]), ""]
    if notes:
        lines += ["Encoders of the synthetic FAQs (chosen by throughput against the budget):",
                  *[f"- {n}" for n in notes], ""]
    if scale:
        name, encoder, s = scale
        headers = ["FAQ", "encoder", "phrasing rows", "index", "search p50 ms (no encoding)", "p95 ms",
                   "exact-path p50 ms", "recall@10 rows", "recall@10 entries", "queries"]
        lines += [markdown(headers, [[name, encoder, s.rows, s.ann, s.p50_ms, s.p95_ms, s.exact_p50_ms,
                                      round(s.row_recall, 4), round(s.entry_recall, 4), s.queries]]), ""]
    targets = checks(rows, rebuild, cache_stats, scale)
    lines += ["Targets:", "", markdown(["target", "measured", "met"], targets)]
    return "\n".join(lines)


def checks(rows: list[BuildRow], rebuild: Timed | None, cache_stats: dict[str, int],
           scale: tuple[str, str, ScaleResult] | None) -> list[list[object]]:
    out: list[list[object]] = []
    for r in rows:
        ratio = r.build.wall_s / r.encode.wall_s
        out.append([f"{r.faq} ({r.encoder}): build ≤ 110% of encoder-only", f"{ratio:.0%}",
                    "yes" if ratio <= 1.10 else "NO"])
    if rebuild is not None:
        out.append(["edit one entry: re-embeds only that entry's changed texts",
                    f"{cache_stats['misses']} texts", "yes" if cache_stats["misses"] <= 2 else "NO"])
        out.append(["edit one entry: rebuild < 3 s", f"{rebuild.wall_s:.2f} s",
                    "yes" if rebuild.wall_s < 3 else "NO"])
    if scale:
        name, encoder, s = scale
        out.append([f"{name} ({encoder}): search p50 excluding encoding < 2 ms", f"{s.p50_ms:.2f} ms",
                    "yes" if s.p50_ms < 2 else "NO"])
        out.append([f"{name} ({encoder}): ANN recall@10 ≥ 0.99 (rows)", f"{s.row_recall:.4f}",
                    "yes" if s.row_recall >= 0.99 else "NO"])
        out.append([f"{name} ({encoder}): ANN recall@10 ≥ 0.99 (entries)", f"{s.entry_recall:.4f}",
                    "yes" if s.entry_recall >= 0.99 else "NO"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    only = sub.add_parser("encode-only", help="(internal) encode what a build of --faq embeds; print JSON")
    only.add_argument("--faq", type=Path, required=True)
    only.add_argument("--encoder", required=True)
    parser.add_argument("--faq", type=Path, default=Path("data/faq.jsonl"))
    parser.add_argument("--encoder", default="e5+use", help="encoder of the AuroraBoutique build")
    parser.add_argument("--sizes", default="10000,100000", help="synthetic FAQ sizes ('' for none)")
    parser.add_argument("--synthetic-encoder", default="auto", help="encoder spec, or auto (see above)")
    parser.add_argument("--budget", type=float, default=900.0,
                        help="seconds of embedding allowed per synthetic FAQ when choosing its encoder")
    parser.add_argument("--queries", type=int, default=300, help="queries for the search/recall test")
    parser.add_argument("--skip-faq", action="store_true",
                        help="only the synthetic FAQs (e.g. --sizes 100000 for the scale figures alone)")
    args = parser.parse_args(argv)
    if args.command == "encode-only":
        print(json.dumps(encode_only(args.faq, args.encoder)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with tempfile.TemporaryDirectory(prefix="aurora-build-bench-") as tmp:
        print(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
