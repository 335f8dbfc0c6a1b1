"""Benchmarks (see bench/README.md): `bench/accuracy.py` scores the engine on every eval set beside
baselines; `bench/perf.py` serves and loads the service against the encoder floor and two peers;
`bench/build_bench.py` times index builds and approximate-index recall. One-off diagnostics:
bench/experiments/."""
