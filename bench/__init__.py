"""Benchmarks: `bench/perf.py` (serving latency and throughput against peers) and
`bench/build_bench.py` (index build time, memory, HNSW recall). See bench/README.md."""
