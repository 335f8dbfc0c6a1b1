"""`/v1/admin/reload` and `/v1/admin/rollback`: change the served index without a restart
(admin key). How an index is checked and swapped: `app.serving`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ADMIN_RESPONSES, ERROR_RESPONSES
from ..schemas import ErrorResponse
from ..security import require_admin
from ..serving import Follower, IndexRefused, Serving, Swap
from . import make_router

router = make_router(prefix="/v1/admin", tags=["admin"], responses={**ERROR_RESPONSES, **ADMIN_RESPONSES},
                     dependencies=[Depends(require_admin)])

REFUSED_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Refused: the message says which check failed, with its figures; "
                                                 "the index serving before still serves"},
}


class GateFigures(BaseModel):
    top1: float | None = Field(description="Top-1 accuracy on the gate's in-scope questions.")
    refused: float | None = Field(description="Share of the gate's out-of-scope questions not answered.")


class Gate(BaseModel):
    new: GateFigures
    serving: GateFigures | None = Field(description="The index served before; None when there was none.")
    margin: float


class SwapReport(BaseModel):
    """What a reload or rollback did."""

    action: str = Field(examples=["reload"])
    version: str = Field(description="The index now served (its FAQ's checksum, shortened).")
    built_at: str
    previous_version: str | None
    entries: int
    seconds: float
    gate: Gate | None = Field(None, description="The evaluation gate's figures, when one is configured.")
    replicas: str = Field(description="How the other workers and replicas learn of it.")


def _swap(request: Request, refused: str, do: Callable[[Serving], Swap]) -> SwapReport:
    """Run a reload or rollback; a refusal is a 409 that starts with `refused`."""
    serving: Serving = request.app.state.serving
    try:
        swap = do(serving)
    except IndexRefused as e:
        raise StarletteHTTPException(409, f"{refused}: {e}") from e
    request.app.state.index_error = None
    follower: Follower | None = request.app.state.follower
    if follower is not None:
        follower.note(swap)
        poll = serving.settings.reload_poll_seconds
        replicas = f"recorded in the database: other processes on it follow within {poll:g} s"
    else:
        replicas = "no storage: only this process changed"
    gate = Gate.model_validate(swap.gate) if swap.gate is not None else None
    return SwapReport(action=swap.action, version=swap.version, built_at=swap.built_at,
                      previous_version=swap.previous_version, entries=swap.entries, seconds=swap.seconds,
                      gate=gate, replicas=replicas)


@router.post("/reload", response_model=SwapReport, responses=REFUSED_RESPONSE)
def reload(request: Request) -> SwapReport:
    """Load the index at the configured path, check it and serve it; requests in flight finish on the old one."""
    return _swap(request, "index refused, the previous one still serves", lambda serving: serving.reload())


@router.post("/rollback", response_model=SwapReport, responses=REFUSED_RESPONSE)
def rollback(request: Request) -> SwapReport:
    """Serve the index served before the last reload again."""
    return _swap(request, "rollback refused", lambda serving: serving.rollback())
