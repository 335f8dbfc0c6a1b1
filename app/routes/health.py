"""Probes: `/healthz` (the process is up) and `/readyz` (it can answer)."""

from __future__ import annotations

from fastapi import Request

from ..deps import current_engine
from ..errors import ERROR_RESPONSES
from ..schemas import Health, Ready
from . import make_router

router = make_router(tags=["health"])


# Probes are `async def`: they must answer even when every threadpool worker is searching.
@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: 200 while the process runs, with or without an index."""
    return Health()


@router.get("/readyz", response_model=Ready, responses={503: ERROR_RESPONSES[503]})
async def readyz(request: Request) -> Ready:
    """Readiness: 200 with the index's facts once loaded, 503 saying how to build one otherwise."""
    engine = current_engine(request)
    built_at = engine.index.manifest.get("built_at")
    return Ready(entries=len(engine.index.entries), encoder=engine.encoder.name,
                 version=engine.index.version, built_at=str(built_at) if built_at else None)
