"""The benchmarks a user runs, run as a user runs them (subprocesses, fake encoder, a handful of
requests), checked on what they print and write.

No timing is asserted against a target: on a shared machine the figures are whatever they are.
The checks are that every figure was measured, and that the counts add up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from aurora_faq.faq import parse_faq

REPO = Path(__file__).resolve().parents[1]
FLOORS = ("encoder ×c", "encoder ×c 1t", "encoder [c]")


def run_script(*argv: str, timeout: float = 600) -> str:
    with tempfile.TemporaryDirectory() as data_dir:  # the services' databases, out of the repository
        env = {**os.environ, "AURORA_DATA_DIR": data_dir}
        done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def table_rows(text: str, first: str | None = None) -> list[list[str]]:
    """The cells of every Markdown table row in `text`, or of those whose first cell is `first`."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return [r for r in rows if first is None or r[0] == first]


def test_perf_quick_measures_every_local_target_at_every_level(tmp_path: Path) -> None:
    out = run_script("bench/perf.py", "--quick", "--requests", "6", "--rounds", "2", "--encoder", "fake",
                     "--targets", "aurora,aurora-nobatch,naive", "--out", str(tmp_path), "--c1-client", "aiohttp")
    [written] = tmp_path.glob("perf-*.json")
    results = json.loads(written.read_text(encoding="utf-8"))["results"]
    servers = ("aurora", "aurora-nobatch", "naive")
    assert set(results) == {*FLOORS, *servers}
    for name, measured in results.items():
        assert set(measured["levels"]) == {"1", "4"}, name
        for level in measured["levels"].values():
            assert level["n"] == 2 * 6 and level["errors"] == 0, name  # both rounds pooled
            assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"], name
            assert level["rps"] > 0 and level["cpu_ms_per_req"] >= 0, name
    for name in servers:
        m = results[name]
        assert len(m["startup_s"]) == 2 * 2 and all(0 < s < 180 for s in m["startup_s"]), name  # a start a run
        assert all(0 < ready <= peak for ready, peak in zip(m["ready_rss_mb"], m["peak_rss_mb"], strict=True))
    # The printout: every run in the latency table, ours against the peer, and the targets met or not.
    for level in ("1", "4"):
        assert {r[1] for r in table_rows(out, level)} >= {*FLOORS, *servers}
        pairs = {r[1] for r in table_rows(out, level) if " vs " in r[1]}
        assert pairs == {"aurora vs naive", "aurora-nobatch vs naive"}
    targets = [line for line in out[out.index("Targets:"):].splitlines() if line.startswith("| aurora")]
    assert len(targets) == 2 * 6 and all(line.rstrip(" |").endswith(("yes", "NO")) for line in targets)
    assert "c=1 fresh p50 ≤ floor + 2 ms" in out and "c=4 req/s ≥ 85% of the encoder alone" in out


@pytest.mark.skipif(shutil.which("h2load") is None,
                    reason="h2load not installed (apt-get install nghttp2-client; `make bench-perf` does as root)")
def test_perf_measures_concurrency_1_with_h2load(tmp_path: Path) -> None:
    out = run_script("bench/perf.py", "--quick", "--requests", "8", "--encoder", "fake", "--levels", "1",
                     "--targets", "aurora", "--out", str(tmp_path), "--c1-client", "h2load")
    assert "client h2load at concurrency 1" in out
    [row] = [r for r in table_rows(out, "1") if r[1] == "aurora"]
    # p50, p95, p99, fresh p50, repeat p50 and req/s all measured, and nothing failed.
    assert all(float(c) > 0 for c in row[2:8]), row
    assert row[-1] == "0", row


def test_build_bench_tiny_builds_rebuilds_and_searches() -> None:
    out = run_script("bench/build_bench.py", "--encoder", "fake", "--sizes", "150",
                     "--synthetic-encoder", "fake", "--queries", "10")
    [aurora] = table_rows(out, "AuroraBoutique")
    [synthetic, scale] = table_rows(out, "synthetic 150")  # its build, then its search and recall
    assert synthetic[1] == "150" and all(float(c) > 0 for row in (aurora, synthetic) for c in row[4:])
    # One entry's answers edited: they (one a language) are embedded again, the rest comes from the cache.
    [rebuild] = [r for r in table_rows(out) if r[0].startswith("AuroraBoutique, entry")]
    assert 1 <= int(rebuild[1]) <= 2 and int(rebuild[2]) > 0 and float(rebuild[3]) > 0, rebuild
    # 600 phrasing rows: an exact index, so the recall against exact search is 1.
    assert scale[2:4] == ["600", "IndexFlatIP"] and scale[7:10] == ["1.0", "1.0", "10"]


def test_synth_faq_writes_a_valid_bilingual_faq_and_questions(tmp_path: Path) -> None:
    run_script("bench/synth_faq.py", "--entries", "500", "--out", str(tmp_path / "faq.jsonl"),
               "--queries", "20", "--queries-out", str(tmp_path / "queries.txt"))
    lines = (tmp_path / "faq.jsonl").read_text(encoding="utf-8").splitlines()
    entries = parse_faq(lines, "faq.jsonl")
    assert len(entries) == len({e.id for e in entries}) == 500
    assert all(e.langs == ["ja", "en"] and len(e.phrasings()) == 4 for e in entries)
    assert len({e.question["en"] for e in entries}) == 500
    queries = (tmp_path / "queries.txt").read_text(encoding="utf-8").splitlines()
    assert len(queries) == 20 and any(q.isascii() for q in queries) and not all(q.isascii() for q in queries)


def test_ab_experiment_asks_both_servers_every_question(tiny_index_dir: Path, tmp_path: Path) -> None:
    # An experiment, not a benchmark, but the one kept for comparing two versions of the service.
    out = run_script("bench/experiments/ab.py", "--index", str(tiny_index_dir), "--encoder", "fake",
                     "--requests", "8", "--rounds", "2", "--a-env", "AURORA_BATCH_MAX=1", "--logs", str(tmp_path))
    assert "AURORA_BATCH_MAX=1" in out.splitlines()[0]
    asked = int(re.search(r"(\d+) first-time questions asked of both", out).group(1))  # type: ignore[union-attr]
    assert 2 <= asked <= 16
    row = [c.strip() for c in out.strip().splitlines()[-1].strip("|").split("|")]
    a, b, diff = float(row[0]), float(row[1]), float(row[2])
    assert a > 0 and b > 0 and abs(diff - (a - b)) < 0.02
    assert {"ab-A.log", "ab-B.log"} <= {p.name for p in tmp_path.iterdir()}
