"""The peer a user would write in an afternoon: FastAPI + the same encoder + a flat FAISS index.

    .venv/bin/python bench/naive_app.py --faq data/faq.jsonl --port 8001 [--encoder e5+use]

Embeds every question and alternate at start-up, answers `GET /search?q=...&k=3` with the k
entries whose closest phrasing is most similar. No cache, batching, lexical side or calibration.
"""

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import faiss
import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.plain_encoder import make_plain_encoder  # noqa: E402


def create_app(faq_path: Path, encoder_spec: str) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        entries = [json.loads(line) for line in faq_path.read_text("utf-8").splitlines() if line.strip()]
        rows = [(e, text) for e in entries for lang in e["question"]
                for text in [e["question"][lang], *e.get("alternates", {}).get(lang, [])]]
        # e5 runs on the request threads, as a user calling the library would have it; the
        # service's own dispatch (E5Encoder's threads) is part of what the benchmark compares.
        state["encoder"] = encoder = make_plain_encoder(encoder_spec)
        state["index"] = index = faiss.IndexFlatIP(encoder.dim)  # unit vectors: cosine
        index.add(encoder.encode_queries([text for _, text in rows]))
        state["rows"] = rows
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        return {"status": "ready", "rows": state["index"].ntotal}

    @app.get("/search")
    def search(q: str, k: int = 3) -> list[dict[str, Any]]:
        scores, ids = state["index"].search(state["encoder"].encode_queries([q]), k * 10)
        hits: dict[str, dict[str, Any]] = {}
        for score, i in zip(scores[0], ids[0], strict=True):
            entry, _ = state["rows"][i]
            lang = "ja" if "ja" in entry["question"] else "en"
            hits.setdefault(entry["id"], {"id": entry["id"], "question": entry["question"][lang],
                                          "answer": entry["answer"][lang], "score": float(score)})
        return list(hits.values())[:k]

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faq", type=Path, default=Path("data/faq.jsonl"))
    parser.add_argument("--encoder", default="e5+use")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(create_app(args.faq, args.encoder), host=args.host, port=args.port)
