"""The benchmark harness runs on a tiny configuration (fake encoder, a handful of requests), and
its parts behave: query mixes, synthetic FAQs, /proc readers, tables.

No timing is asserted anywhere: the benchmarks print figures, these tests only check they run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aurora_faq.faq import parse_faq
from bench import procstat, synth_faq
from bench.loadgen import h2load_available
from bench.table import markdown
from bench.workload import make_mixes, read_query_texts, warmup_texts

REPO = Path(__file__).resolve().parents[1]
QUERIES = REPO / "data" / "eval" / "aurora_queries.jsonl"


def run_script(*argv: str, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# -- the harness, end to end ------------------------------------------------------------------

def test_perf_quick_runs_every_local_target(tmp_path: Path) -> None:
    out = run_script("bench/perf.py", "--quick", "--requests", "6", "--rounds", "2", "--encoder", "fake",
                     "--targets", "aurora,aurora-nobatch,naive", "--out", str(tmp_path), "--c1-client", "aiohttp")
    for name in ("encoder ×c", "encoder [c]", "aurora", "aurora-nobatch", "naive"):
        assert f"| {name} " in out
    assert "server time, in-process ASGI" in out
    assert "Targets:" in out
    assert list(tmp_path.glob("perf-*.json"))
    # c=1 again, our servers taking turns with the encoder alone: every question of both
    # rounds' mixes measured on each side, and the c=1 targets read from these runs.
    paired = out[out.index("Concurrency 1, paired with the floor"):]
    rows = {c[0]: c for c in ([x.strip() for x in line.strip("|").split("|")]
                              for line in paired.splitlines() if line.startswith("| "))}
    asked = int(rows["encoder ×1"][-1])
    assert asked == 2 * 6 and int(rows["aurora"][-1]) == int(rows["aurora-nobatch"][-1]) == asked
    assert "naive" not in rows
    assert "(paired with the floor; whole runs: +" in out


@pytest.mark.skipif(not h2load_available(), reason="h2load not installed (apt-get install nghttp2-client; "
                                                   "`make test` installs it when run as root)")
def test_perf_measures_concurrency_1_with_h2load(tmp_path: Path) -> None:
    out = run_script("bench/perf.py", "--quick", "--requests", "8", "--encoder", "fake", "--levels", "1",
                     "--targets", "aurora", "--out", str(tmp_path), "--c1-client", "h2load")
    assert "client h2load at concurrency 1" in out
    row = next(line for line in out.splitlines() if line.startswith("| 1 | aurora "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # p50, p95, p99, fresh p50, repeat p50 and req/s all measured, and nothing failed.
    assert all(float(c) > 0 for c in cells[2:8]), row
    assert cells[-1] == "0", row


def test_c1_trace_splits_the_server_time_into_its_steps(tiny_index_dir: Path) -> None:
    out = run_script("bench/c1_trace.py", "--index", str(tiny_index_dir), "--encoder", "fake", "--requests", "6")
    for step in ("client round trip", "encoding", "Engine.answer_vectors", "hop back to the event loop"):
        assert step in out
    # Every step was timed in the server (a missing timestamp would have raised).
    assert "first-time questions, concurrency 1" in out


def test_ab_asks_both_servers_every_question(tiny_index_dir: Path, tmp_path: Path) -> None:
    out = run_script("bench/ab.py", "--index", str(tiny_index_dir), "--encoder", "fake", "--requests", "8",
                     "--rounds", "2", "--a-env", "AURORA_BATCH_MAX=1", "--logs", str(tmp_path))
    assert "AURORA_BATCH_MAX=1" in out.splitlines()[0]
    asked = int(re.search(r"(\d+) first-time questions asked of both", out).group(1))  # type: ignore[union-attr]
    assert 2 <= asked <= 16
    row = [c.strip() for c in out.strip().splitlines()[-1].strip("|").split("|")]
    a, b, diff = float(row[0]), float(row[1]), float(row[2])
    assert a > 0 and b > 0 and abs(diff - (a - b)) < 0.02
    assert {"ab-A.log", "ab-B.log"} <= {p.name for p in tmp_path.iterdir()}


def test_ab_with_a_gap_idles_before_every_request(tiny_index_dir: Path, tmp_path: Path) -> None:
    # The mix's 8 requests go to both servers, each after 100 ms idle: at least 1.6 s of
    # sleeping, whatever the machine (a sleep never ends early).
    started = time.perf_counter()
    out = run_script("bench/ab.py", "--index", str(tiny_index_dir), "--encoder", "fake", "--requests", "8",
                     "--rounds", "1", "--gap-ms", "100", "--logs", str(tmp_path))
    assert time.perf_counter() - started >= 1.6
    assert "100 ms idle before each request" in out


def test_encoder_spread_times_each_first_time_question_every_pass() -> None:
    out = run_script("bench/encoder_spread.py", "--encoder", "fake", "--requests", "20", "--passes", "3")
    rows = {c[0]: c for c in ([x.strip() for x in line.strip("|").split("|")]
                              for line in out.splitlines() if line.startswith("| "))}
    questions = int(rows["each question's median"][1])
    assert 0 < questions <= 20
    assert int(rows["every call"][1]) == 3 * questions
    # Every question falls in one length bucket.
    buckets = [r for name, r in rows.items() if name[0].isdigit()]
    assert sum(int(r[1]) for r in buckets) == questions


def test_build_bench_tiny(tmp_path: Path) -> None:
    out = run_script("bench/build_bench.py", "--encoder", "fake", "--sizes", "150",
                     "--synthetic-encoder", "fake", "--queries", "10")
    assert "| AuroraBoutique " in out
    assert "| synthetic 150 " in out
    assert "texts re-embedded" in out
    assert "recall@10 rows" in out


# -- parts ------------------------------------------------------------------------------------

def test_mixes_repeat_within_a_level_and_not_across() -> None:
    texts = read_query_texts(QUERIES)
    mixes = make_mixes(texts, levels=3, n=40, repeat_share=0.2, seed=3)
    assert [len(m) for m in mixes] == [40, 40, 40]
    fresh = [{r.text for r in mix if not r.repeat} for mix in mixes]
    assert not (fresh[0] & fresh[1]) and not (fresh[1] & fresh[2])
    for mix in mixes:
        share = sum(r.repeat for r in mix) / len(mix)
        assert 0.1 <= share <= 0.3
        seen: set[str] = set()
        for r in mix:
            assert r.repeat == (r.text in seen)
            seen.add(r.text)
    assert make_mixes(texts, 3, 40, 0.2, seed=3) == mixes
    assert not set(warmup_texts()) & set(texts)


def test_synthetic_faq_is_valid_and_bilingual(tmp_path: Path) -> None:
    path = synth_faq.write_faq(tmp_path / "faq.jsonl", 500)
    entries = parse_faq(path.read_text(encoding="utf-8").splitlines(), str(path))
    assert len(entries) == len({e.id for e in entries}) == 500
    assert all(e.langs == ["ja", "en"] and len(e.phrasings()) == 4 for e in entries)
    assert len({e.question["en"] for e in entries}) == 500
    queries = synth_faq.queries(20)
    assert len(queries) == 20 and any(q.isascii() for q in queries) and not all(q.isascii() for q in queries)


def test_procstat_reads_this_process() -> None:
    import os

    assert procstat.cpu_seconds(os.getpid()) > 0
    mem = procstat.memory_mb(os.getpid())
    assert 0 < mem["rss"] <= mem["hwm"]
    assert procstat.loadavg() >= 0


def test_markdown_table_aligns_numbers() -> None:
    text = markdown(["name", "ms"], [["a", 1.25], ["bb", 10.0]])
    lines = text.splitlines()
    assert lines[1].endswith(":|")
    assert lines[2] == "| a    |  1.2 |" or lines[2] == "| a    |  1.3 |"
    assert len({len(line) for line in lines}) == 1
