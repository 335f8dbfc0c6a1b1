"""Per-client limits on what reaches the API: requests per window and bytes per request body.

    GET, POST /v1/search   AURORA_RATE_LIMIT_SEARCH     429 past it, with Retry-After
    GET /v1/suggest        AURORA_RATE_LIMIT_SUGGEST
    POST /v1/feedback      AURORA_RATE_LIMIT_FEEDBACK
    any request            AURORA_MAX_BODY_BYTES        413 past it

Both are plain ASGI middleware (app/web.py adds them), keyed by path so that the routes know
nothing of them. A client is its address, `scope["client"]`: the peer's, or the one a trusted
proxy forwarded (uvicorn's ProxyHeadersMiddleware runs before these); an IPv6 client is its /64,
the block a single subscriber gets, so that it cannot step round the limit address by address.

Counting is `limits`' fixed window: a client's window opens with its first request and its
count starts again when the window ends; Retry-After is the seconds until then, when a retry is
let through. A moving window would never let 2N through across a window's end, but it keeps a
timestamp per counted request: limits' in-memory one visits them all every 10 ms (6.5 ms a
sweep for 5,000 clients, 40% of a core), its redis one runs a script over them where a fixed
window costs one INCR. Several limits ("1000/hour;30/second") are checked shortest window
first, so that a refused burst does not use up the longer allowance.

`memory://` counts in this process, on the event loop, in `LoopStorage`. Any other storage
(redis://...) is limits' asyncio one, each call bounded by `STORAGE_TIMEOUT_SECONDS`. When the
storage fails or cannot be reached, requests are let through unlimited (logged): a limiter that
is down must not take the service down with it; the storage is asked again after
`STORAGE_RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio import strategies as aio_strategies
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

logger = logging.getLogger(__name__)

STORAGE_TIMEOUT_SECONDS = 0.25  # a shared storage answers in a millisecond; past this it is down
STORAGE_RETRY_SECONDS = 5.0
SWEEP_SECONDS = 10.0  # how often ended windows of memory:// are dropped
IPV6_PREFIX = 64
# Rate-limited paths and methods, and the setting (`rate_limit_<name>`) that says how much.
LIMITED: dict[str, tuple[str, frozenset[str]]] = {
    "/v1/search": ("search", frozenset({"GET", "POST"})),
    "/v1/suggest": ("suggest", frozenset({"GET"})),
    "/v1/feedback": ("feedback", frozenset({"POST"})),
}


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """`limits` notation ("30/second", "1000/hour;30/second") as items, shortest window first;
    none for an empty string. `Settings` has checked it.
    """
    if not text.strip():
        return ()
    return tuple(sorted(parse_many(text), key=lambda item: item.get_expiry()))


def route_path(scope: Scope) -> str:
    """The path as the routes see it: without the `root_path` a proxy mounts the service under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


@lru_cache(maxsize=4096)
def client_key(host: str) -> str:
    """Who is counted: an IPv4 address as it is, an IPv6 one as its /64."""
    if ":" not in host:
        return host
    try:
        return str(ipaddress.IPv6Network((host, IPV6_PREFIX), strict=False))
    except ValueError:
        return host  # not an address (e.g. a proxy's literal): itself


@dataclass(frozen=True)
class Rule:
    name: str
    methods: frozenset[str]
    limits: tuple[RateLimitItem, ...]


def rules(limits_by_name: Mapping[str, str]) -> dict[str, Rule]:
    """The `LIMITED` paths whose limit is set, by path.

    Args:
        limits_by_name: each name in `LIMITED` to its limit string (empty: no limit).
    """
    found = {path: Rule(name, methods, parse_limits(limits_by_name[name]))
             for path, (name, methods) in LIMITED.items()}
    return {path: rule for path, rule in found.items() if rule.limits}


class LoopStorage(Storage):
    """limits' storage interface over two dicts, for fixed windows counted on the event loop.

    limits' own MemoryStorage is made for threads: a lock per key, and, every 10 ms that it is
    used, a new thread that visits every counter. Measured in-process with 5,000 clients, the
    rate limit, body size and Allow middleware together add 39 µs of CPU to a GET /v1/suggest on it,
    14 µs on this. Here the calls come from one thread and nothing runs in the middle of one,
    so no locks; a counter whose window has ended is replaced when next counted, and the
    others are swept at most every `SWEEP_SECONDS`, when a window opens.
    """

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[str, int] = {}
        self._ends: dict[str, float] = {}
        self._next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError  # never raised: nothing here can fail

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        if self._ends.get(key, 0.0) > now:
            count = self._counts[key] + amount
        else:
            if now >= self._next_sweep:
                self._sweep(now)
            count = amount
            self._ends[key] = now + expiry
        self._counts[key] = count
        return count

    def get(self, key: str) -> int:
        return self._counts.get(key, 0) if self._ends.get(key, 0.0) > time.time() else 0

    def get_expiry(self, key: str) -> float:
        return self._ends.get(key) or time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        count = len(self._counts)
        self._counts.clear()
        self._ends.clear()
        return count

    def clear(self, key: str) -> None:
        self._counts.pop(key, None)
        self._ends.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [key for key, end in self._ends.items() if end <= now]:
            del self._counts[key], self._ends[key]
        self._next_sweep = now + SWEEP_SECONDS


class Limiter:
    """Requests per client against limits, in the storage a `limits` URI names."""

    def __init__(self, storage_uri: str) -> None:
        """
        Raises:
            limits.errors.ConfigurationError: an unknown storage scheme, or its client library missing.
        """
        scheme, _, rest = storage_uri.partition("://")
        scheme = scheme.removeprefix("async+")
        self._local: FixedWindowRateLimiter | None = None
        self._shared: aio_strategies.FixedWindowRateLimiter | None = None
        if scheme == "memory":
            self._local = FixedWindowRateLimiter(LoopStorage())
        else:
            self._shared = aio_strategies.FixedWindowRateLimiter(
                storage_from_string(f"async+{scheme}://{rest}", wrap_exceptions=True))
        self.uri = storage_uri
        self._down_until = 0.0

    async def retry_after(self, limits: Iterable[RateLimitItem], *key: str) -> tuple[RateLimitItem, int] | None:
        """Count one request under every limit; None when it may go on, else the limit it is over
        and the whole seconds until a retry is let through. None, too, while the storage is down."""
        if self._local is not None:
            return self._check_local(self._local, limits, key)
        if self._down_until and time.monotonic() < self._down_until:
            return None
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                return await self._check_shared(limits, key)
        except Exception as e:  # whatever the storage's client raises: it is down, the request is not at fault
            self._down_until = time.monotonic() + STORAGE_RETRY_SECONDS
            logger.warning("rate limit storage %s failed (%s: %s): requests go unlimited; retrying in %g s",
                           self.uri.split("@")[-1], type(e).__name__, e, STORAGE_RETRY_SECONDS)
            return None

    @staticmethod
    def _check_local(limiter: FixedWindowRateLimiter, limits: Iterable[RateLimitItem],
                     key: tuple[str, ...]) -> tuple[RateLimitItem, int] | None:
        for item in limits:
            if not limiter.hit(item, *key):
                return item, _seconds_until(limiter.get_window_stats(item, *key).reset_time)
        return None

    async def _check_shared(self, limits: Iterable[RateLimitItem],
                            key: tuple[str, ...]) -> tuple[RateLimitItem, int] | None:
        assert self._shared is not None
        for item in limits:
            if not await self._shared.hit(item, *key):
                return item, _seconds_until((await self._shared.get_window_stats(item, *key)).reset_time)
        return None


def _seconds_until(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class RateLimitMiddleware:
    """429 for a client past a `Rule`'s limit on its path; other paths and methods pass untouched."""

    def __init__(self, app: ASGIApp, rules: Mapping[str, Rule], limiter: Limiter) -> None:
        self.app = app
        self.rules = dict(rules)
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = route_path(scope)
        rule = self.rules.get(path)
        if rule is None or scope["method"] not in rule.methods:
            return await self.app(scope, receive, send)
        client = scope.get("client")
        over = await self.limiter.retry_after(rule.limits, rule.name, client_key(client[0]) if client else "-")
        if over is None:
            return await self.app(scope, receive, send)
        item, seconds = over
        response = error_response(429, "too_many_requests",
                                  f"too many requests: {path} takes at most {item} from one client; "
                                  f"retry in {seconds} s", headers={"Retry-After": str(seconds)})
        await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """413 for a request body over `max_bytes`, before the app reads it.

    A declared Content-Length says so at once. A body without one (chunked) is read here, counted
    as it arrives, and held only while it stays within the limit, then handed to the app as it
    came; past the limit the rest is never read. The server itself keeps a body to its declared
    length, so a body that has one is not counted again.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None:
            if not length.strip().isdigit():
                response = error_response(400, "bad_request", "Content-Length must be a number of bytes")
                return await response(scope, receive, send)
            if int(length) > self.max_bytes:
                return await self._too_large(scope, receive, send, f"request body is {int(length)} bytes")
        elif chunked:
            held: list[Message] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before it finished sending: nobody to answer
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    return await self._too_large(scope, receive, send, "request body goes past the limit")
                held.append(message)
                if not message.get("more_body", False):
                    break
            receive = _replay(held, receive)
        await self.app(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, what: str) -> None:
        response = error_response(413, "content_too_large", f"{what}; send at most {self.max_bytes} bytes")
        await response(scope, receive, send)


def _replay(held: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out `held` first, then what `receive` has (the client leaving)."""
    pending = iter(held)

    async def replayed() -> Message:
        return next(pending, None) or await receive()

    return replayed


def document(schema: dict[str, Any], rules: Mapping[str, Rule], max_bytes: int) -> dict[str, Any]:
    """Add the 413 and 429 answers to an OpenAPI document, where they can happen.

    Args:
        schema: the app's OpenAPI document; changed in place.
        rules: the rate-limited paths.
        max_bytes: the body limit.

    Returns:
        `schema`.
    """
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("413", {"description": f"The body is over {max_bytes} bytes",
                                             "content": envelope})
            rule = rules.get(path)
            if rule is not None and method.upper() in rule.methods:
                limit = "; ".join(str(item) for item in rule.limits)
                responses.setdefault("429", {
                    "description": f"Too many requests from this client ({limit})",
                    "headers": {"Retry-After": {"description": "Seconds until a retry is let through",
                                                "schema": {"type": "integer", "minimum": 1}}},
                    "content": envelope})
    return schema
