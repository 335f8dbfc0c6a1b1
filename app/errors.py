"""Every error leaves the service as one envelope, `{"error": {"code", "message"}}`.

Status and code by cause:

    aurora_faq QueryError               422 invalid_request (the field named as the client sent it)
    request validation (query, body)    422 invalid_request
        body that is not JSON              422 invalid_json
        body sent as another content type  422 wrong_content_type
    aurora_faq EntryNotFoundError       404 not_found
    aurora_faq IndexUnavailableError    503 index_unavailable
    routing (unknown path, method)      404 not_found, 405 method_not_allowed
    anything else                       500 internal_error (logged with its traceback)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aurora_faq import query
from aurora_faq.errors import AuroraError, EntryNotFoundError, IndexUnavailableError, QueryError

from .schemas import ErrorDetail, ErrorResponse

logger = logging.getLogger(__name__)

WRONG_CONTENT_TYPE = "send a JSON body with Content-Type: application/json"
_BODY_EXAMPLE = '{"q": "送料はいくらですか"}'
_WHERE = {"query": "query parameter", "body": "body field", "path": "path parameter"}

# For the OpenAPI document: `responses=ERROR_RESPONSES` on a route lists the envelope.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "The request cannot be answered as sent"},
    503: {"model": ErrorResponse, "description": "No usable index; the message says how to build one"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No admin key sent, or a wrong one"},
    403: {"model": ErrorResponse, "description": "Admin routes are off: no AURORA_ADMIN_KEY is configured"},
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such entry"},
}


def error_response(status: int, code: str, message: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The envelope as a response."""
    body = ErrorResponse(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# The core's names for a question's fields, as a client of this API sends them.
_QUERY_FIELDS = {"text": "query 'q'"}


def _field_message(name: str, kind: str, value: object, ctx: Mapping[str, Any]) -> str | None:
    """The core's wording (aurora_faq.query) for the limits the API checks on `q` and `k` first."""
    if name == "q" and kind == "string_too_short":
        return query.EMPTY.format(name=_QUERY_FIELDS["text"])
    if name == "q" and kind == "string_too_long" and isinstance(value, str):
        return query.TOO_LONG.format(name=_QUERY_FIELDS["text"], chars=len(value), limit=ctx.get("max_length"))
    if name == "k" and kind in {"greater_than_equal", "less_than_equal"}:
        return query.K_RANGE.format(name="k", max_k=ctx.get("le", query.MAX_K), k=value)
    return None


def _describe(error: Mapping[str, Any]) -> str:
    """One validation error as 'which field, what to fix'."""
    loc = error["loc"]
    source = str(loc[0]) if loc else "request"
    name = ".".join(str(part) for part in loc[1:]) or source
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    where = _WHERE.get(source, source)
    if kind == "missing":
        return f"{where} '{name}' is required"
    if kind == "extra_forbidden":
        return f"unknown {where} '{name}': remove it (see /docs for the accepted ones)"
    worded = _field_message(name, kind, value, ctx)
    if worded:
        return worded
    if kind == "literal_error":
        return f"{name} must be {ctx.get('expected')}, got {_short(value)}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"{name} must be a whole number, got {_short(value)}"
    if kind == "string_too_long" and isinstance(value, str):
        return f"{name} is {len(value)} characters; send at most {ctx.get('max_length')}"
    if kind == "string_unicode":
        return f"{name} must be valid Unicode text (it holds an unpaired surrogate)"
    if kind == "string_type":
        return f"{name} must be a string, got {_short(value)}"
    return f"{name}: {error['msg']} (got {_short(value)})"


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _body_problem(request: Request, errors: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(code, message) when the body as a whole is unusable, else None (field errors)."""
    if not any(e["loc"][:1] == ("body",) for e in errors):
        return None
    for e in errors:
        if e["type"] == "json_invalid":
            at = f" at character {e['loc'][1]}" if len(e["loc"]) > 1 else ""
            return "invalid_json", f"request body is not valid JSON: {e['ctx']['error']}{at}"
    # FastAPI hands a non-JSON body to the model as raw bytes; say what to send instead.
    if not _is_json(request.headers.get("content-type")):
        return "wrong_content_type", WRONG_CONTENT_TYPE
    whole_body = [e for e in errors if tuple(e["loc"]) == ("body",)]
    if any(e["type"] == "missing" for e in whole_body):
        return "invalid_request", f"request body is empty: send a JSON object such as {_BODY_EXAMPLE}"
    if whole_body:
        return "invalid_request", (f"request body must be a JSON object such as {_BODY_EXAMPLE}, "
                                   f"got {_json_type(whole_body[0].get('input'))}")
    return None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    problem = _body_problem(request, errors)
    if problem is None:
        problem = "invalid_request", "; ".join(dict.fromkeys(_describe(e) for e in errors))
    return error_response(422, *problem)


# The core's errors a request can meet, by most specific class first.
_DOMAIN_STATUS: list[tuple[type[AuroraError], int, str]] = [
    (EntryNotFoundError, 404, "not_found"),
    (IndexUnavailableError, 503, "index_unavailable"),
]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, QueryError):
        return error_response(422, "invalid_request", exc.worded(_QUERY_FIELDS.get(exc.field, exc.field)))
    for cls, status, code in _DOMAIN_STATUS:
        if isinstance(exc, cls):
            return error_response(status, code, str(exc))
    return await _unexpected(request, exc)  # e.g. FAQValidationError: never a request's fault


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI answers 400 when the body cannot even be decoded (e.g. not UTF-8): bad JSON too.
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        return error_response(422, "invalid_json", f"request body is not valid JSON: {exc.__cause__}")
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "http_error"
    message = str(exc.detail)
    if exc.status_code in {404, 405} and message == HTTPStatus(exc.status_code).phrase:
        message = f"{message}: {request.method} {request.url.path} (see /docs for the routes)"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; it has been logged")


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers above on `app`."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(AuroraError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
