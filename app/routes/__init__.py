"""HTTP routes, one module per resource; each only translates HTTP to core calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute


class DocstringRoute(APIRoute):
    """A route whose docstring's first line is its OpenAPI summary; FastAPI would otherwise
    title-case the function name ("Search Get")."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        doc = (endpoint.__doc__ or "").strip()
        if kwargs.get("summary") is None and doc:
            kwargs["summary"] = doc.splitlines()[0]
        super().__init__(path, endpoint, **kwargs)


def make_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes take their summaries from docstrings."""
    return APIRouter(route_class=DocstringRoute, **kwargs)
