"""Benchmarks (see bench/README.md): `bench/perf.py` serves and loads the service against the
encoder floor and two peers; `bench/build_bench.py` times index builds and HNSW recall."""
