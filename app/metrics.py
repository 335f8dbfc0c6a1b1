"""Prometheus metrics at `GET /metrics`, right with one server process or several.

    aurora_http_request_duration_seconds{route,method,status}  histogram; its _count counts requests
    aurora_searches_total{decision,lang}
    aurora_feedback_total{helpful}
    aurora_index_reload_duration_seconds{outcome}              histogram; its _count counts reloads
    aurora_index_info{version}                                 1 for each version being served
    aurora_index_entries, aurora_index_vectors                 the index loaded last

`route` is the template that answered (`/v1/faq/{entry_id}`), or `unmatched`: never the raw
path, whose ids and typos would make a series each. `status` is the class (`2xx`).

With PROMETHEUS_MULTIPROC_DIR set (`python -m app --workers N` sets it), each process writes its
values to files there and the one that answers a scrape reads them all (prometheus_client's
multiprocess mode): counters and histograms add up over every worker, alive or gone. The index
gauges count only live workers, since a worker that has exited serves nothing: `aurora_index_info`
is the highest of their values (1 while any serves that version, so both during a rolling
reload), the sizes the most recently set. A worker drops its gauges when it stops, and one that
starts drops those of workers that died without stopping.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.routing import Mount, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import log_request
from .ratelimit import route_path

# prometheus_client reads it once, at import, to choose where values live; so does this module.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"
# A cached search takes well under a millisecond, one that encodes a few to tens of them.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RELOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

REQUEST_SECONDS = Histogram("aurora_http_request_duration_seconds",
                            "Time from a request's arrival to its response's last byte, by route template",
                            ["route", "method", "status"], buckets=REQUEST_BUCKETS)
SEARCHES = Counter("aurora_searches", "Searches answered, by decision and language", ["decision", "lang"])
FEEDBACK = Counter("aurora_feedback", "Feedback recorded, by whether the answer helped", ["helpful"])
RELOAD_SECONDS = Histogram("aurora_index_reload_duration_seconds", "Index reloads, by outcome (ok, refused, failed)",
                           ["outcome"], buckets=RELOAD_BUCKETS)
INDEX_INFO = Gauge("aurora_index_info", "1 for each index version a live worker serves", ["version"],
                   multiprocess_mode="livemax")
INDEX_ENTRIES = Gauge("aurora_index_entries", "FAQ entries in the index loaded last",
                      multiprocess_mode="livemostrecent")
INDEX_VECTORS = Gauge("aurora_index_vectors", "Vectors (questions and alternates) in the index loaded last",
                      multiprocess_mode="livemostrecent")

_serving: str | None = None  # this process's index version, once set_index has said it
_serving_lock = threading.Lock()


def observe_search(decision: str, lang: str) -> None:
    """Count a search answered.

    Args:
        decision: "answer", "clarify" or "no_answer".
        lang: the language it was answered in ("ja", "en").
    """
    SEARCHES.labels(decision, lang).inc()


def observe_feedback(helpful: bool) -> None:
    """Count a feedback recorded.

    Args:
        helpful: the shopper's verdict.
    """
    FEEDBACK.labels("true" if helpful else "false").inc()


def observe_reload(outcome: str, seconds: float) -> None:
    """Count a reload and how long it took.

    Args:
        outcome: "ok" (now serving), "refused" (a check failed: the old index serves on) or
            "failed" (an unexpected error).
        seconds: from the reload's start to its outcome.
    """
    RELOAD_SECONDS.labels(outcome).observe(seconds)


def set_index(version: str, entries: int, vectors: int) -> None:
    """Say which index this process serves from now on; the one it served before goes to 0.

    To 0 rather than removed: in multiprocess mode a file keeps a removed series' last value.

    Args:
        version: the index's version (its manifest's).
        entries: FAQ entries in it.
        vectors: vectors in it.
    """
    global _serving
    with _serving_lock:
        if _serving is not None and _serving != version:
            INDEX_INFO.labels(_serving).set(0)
        INDEX_INFO.labels(version).set(1)
        _serving = version
        INDEX_ENTRIES.set(entries)
        INDEX_VECTORS.set(vectors)


def install_metrics(app: FastAPI) -> None:
    """Measure every request of `app` (histogram and log line) and serve `GET /metrics`.

    Call it before the app starts, after the other middleware, so that the time and the count
    include their answers too (a 429 or 413 is counted under the route it was meant for).

    Args:
        app: the service.
    """
    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics, service=app)


def metrics(request: Request) -> Response:
    """Every metric, in the format the scraper asks for (Prometheus text or OpenMetrics).

    In the threadpool: a scrape takes milliseconds, more with each worker's files to read.
    """
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    registry = REGISTRY
    if MULTIPROC_DIR:
        # A registry a scrape: MultiProcessCollector reads the files as they are now.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(encode(registry), media_type=content_type)


class RequestMetrics:
    """Pure ASGI middleware: times each HTTP request to its last body byte sent, then observes
    it under its route template and leaves its log line (`app.logs.log_request`).

    An API route's template is the route FastAPI put in the scope. Other requests (the widget,
    the docs, /metrics; those a middleware answered before routing, such as a 429; those no
    route answers) are matched here against `route_templates`.
    """

    def __init__(self, app: ASGIApp, service: FastAPI) -> None:
        self.app = app
        self.service = service
        self.timers: dict[tuple[str, str, int], Any] = {}
        self.templates: list[tuple[re.Pattern[str], str]] | None = None  # on first use: all routes are in

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and MULTIPROC_DIR:
                send = _multiprocess_bookkeeping(send, MULTIPROC_DIR)
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        # As it arrived: a mount rewrites root_path on its way to the files.
        path, root = scope["path"], scope.get("root_path", "")
        state = scope.get("state")
        if state is None:  # where request.state.log_fields lands, seen from here
            state = scope["state"] = {}
        status = 500  # what the server answers if the app raises before responding
        ended = 0.0

        async def timed(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
            elif not message.get("more_body", False):
                ended = perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            seconds = (ended or perf_counter()) - started
            method = scope["method"]
            route = self.template(scope, path, root)
            key = (route, method if method in METHODS else "other", status // 100)
            timer = self.timers.get(key)
            if timer is None:  # labels() validates and locks: once a series, not once a request
                timer = self.timers[key] = REQUEST_SECONDS.labels(key[0], key[1], f"{key[2]}xx")
            timer.observe(seconds)
            client = scope.get("client")
            log_request(method, route, status, seconds, client[0] if client else None, state.get("log_fields"))

    def template(self, scope: Scope, path: str, root: str) -> str:
        """The template of the route that answered, or would have, `path`; else `UNMATCHED`."""
        template = getattr(scope.get("route"), "path_format", None)
        if isinstance(template, str):
            return template
        if self.templates is None:
            self.templates = route_templates(self.service)
        relative = route_path({"path": path, "root_path": root})
        return next((t for regex, t in self.templates if regex.match(relative)), UNMATCHED)


def route_templates(app: FastAPI) -> list[tuple[re.Pattern[str], str]]:
    """Each route's template with the regex of the paths it serves: the app's own routes and mounts,
    then the API's, from its OpenAPI document (FastAPI keeps included routers' routes out of
    `app.routes`)."""
    own = [(route.path_regex, route.path_format) for route in app.router.routes if isinstance(route, Route | Mount)]
    return own + [(compile_path(path)[0], path) for path in app.openapi().get("paths", {})]


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def _multiprocess_bookkeeping(send: Send, directory: str) -> Callable[[Message], Awaitable[None]]:
    """`send` for the lifespan: once started, drop the live gauges of workers that died without
    stopping (killed, crashed); once stopped, this worker's own."""

    async def sender(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            for pid in {int(m[1]) for f in Path(directory).iterdir() if (m := _LIVE_GAUGE_FILE.fullmatch(f.name))}:
                if not _alive(pid):
                    mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        elif message["type"] == "lifespan.shutdown.complete":
            mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
        await send(message)

    return sender


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: alive, and not ours to clean up after
    return True
