"""What a browser loads from the service besides the API: the widget, its demo page and the API's
own docs, all from the project and its packages, never a CDN, so that they work on a shop's
closed network.

    GET /widget.js, /widget/{name}   app/static/, revalidated on every use (ETag, 304)
    GET /demo                        app/static/demo.html, under a strict Content-Security-Policy
    GET /                            redirects to /demo
    GET /docs, /redoc                Swagger UI and ReDoc, from the copies fastapi-offline ships
    GET /docs-assets/{name}          those copies
    GET /v1/capabilities             what the widget may offer

Responses of `GZIP_MIN_BYTES` or more go gzipped to clients that accept it. CORS headers are
sent only to the origins `Settings.cors_origins` names; none when it is empty (same origin).

Every request passes, outermost first: uvicorn's ProxyHeadersMiddleware (the client's address
from X-Forwarded-For, only when the peer is one of `Settings.trusted_proxies`), CORS, the rate
limits and the body size limit (app/ratelimit.py), `AllowedMethods`, gzip, then the routes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.datastructures import MutableHeaders
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from .ratelimit import BodySizeLimitMiddleware, Limiter, RateLimitMiddleware, Rule, document, rules
from .routes import make_router
from .schemas import Capabilities
from .settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))  # Swagger UI 5 and ReDoc 2 bundles
DOCS_ASSETS = "/docs-assets"
# What the demo page may load: only its own files, from here (the front end is built to it).
DEMO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")
# Smaller responses go as they are: a search answer (1-2 KB) gains nothing measurable from
# gzip on a shop's network, while the FAQ listing (tens of KB) and the scripts shrink 3-5x.
GZIP_MIN_BYTES = 4096
GZIP_LEVEL = 6  # Starlette's default 9 costs more CPU for a few per cent less
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # what a 405's Allow may name
ALLOW_CACHE_SIZE = 1024

# The widget's URL is fixed in the shops' pages, so a browser must not keep an old widget.js
# after an upgrade: it asks every time, and the ETag makes the answer a body-less 304.
WIDGET_CACHE = "no-cache"
# The docs' bundles change only with the package; a stale day of Swagger UI harms no one.
DOCS_ASSETS_CACHE = "public, max-age=86400"

router = make_router(prefix="/v1", tags=["widget"])


@router.get("/capabilities", response_model=Capabilities)
async def capabilities(request: Request) -> Capabilities:
    """Say what the widget may offer besides suggestions and answers."""
    return Capabilities(feedback=request.app.state.storage is not None)


class CachedFiles(StaticFiles):
    """Starlette's static files (content types, ETag and 304, nothing outside the directory),
    each with a Cache-Control header; a file not there is a 404 in the API's envelope."""

    def __init__(self, directory: Path, cache_control: str) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.cache_control = cache_control

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = self.cache_control
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def add_web(app: FastAPI, settings: Settings) -> None:
    """Serve the widget, the demo page and offline docs from `app`, and add compression and CORS.

    Call it before the app starts (it adds middleware).

    Args:
        app: the service.
        settings: `cors_origins`, the origins whose pages may call the API.
    """
    widget = CachedFiles(STATIC_DIR, WIDGET_CACHE)

    async def widget_js(request: Request) -> Response:
        """The widget: the one script a shop's page includes."""
        return await widget.get_response("widget.js", request.scope)

    async def demo(request: Request) -> Response:
        """A shop page with the widget on it."""
        response = await widget.get_response("demo.html", request.scope)
        response.headers["Content-Security-Policy"] = DEMO_CSP
        return response

    async def home(request: Request) -> Response:
        """The demo."""
        return RedirectResponse(f"{request.scope.get('root_path', '')}/demo")

    app.add_route("/widget.js", widget_js, include_in_schema=False)
    app.mount("/widget", widget, name="widget")
    app.add_route("/demo", demo, include_in_schema=False)
    app.add_route("/", home, include_in_schema=False)
    app.include_router(router)
    if app.openapi_url:
        _offline_docs(app, app.openapi_url)
    # Each added wraps the ones before: the last is outermost.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(AllowedMethods, routes=app.router.routes)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    limited = rules({"search": settings.rate_limit_search, "suggest": settings.rate_limit_suggest,
                     "feedback": settings.rate_limit_feedback})
    if limited:
        app.add_middleware(RateLimitMiddleware, rules=limited, limiter=Limiter(settings.rate_limit_storage))
    _document_limits(app, limited, settings.max_body_bytes)
    if settings.cors_origins:
        # Before the limits, so that a preflight is answered without being counted, and a 429
        # or 413 carries the headers that let the widget read it.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"], expose_headers=["Server-Timing"], max_age=600)
    if settings.trusted_proxies:
        # Outermost: everything after it, the limits first, sees the shopper's address. Without
        # trusted proxies X-Forwarded-For is not read at all, so a client cannot forge one.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)


class AllowedMethods:
    """405 answers whose Allow header names every method the path serves.

    The router answers a method that no route of a path serves with the first such route's
    methods alone (`OPTIONS /v1/search`: `Allow: GET`, though POST is served too). On a 405 this
    asks every route, as the router does (`matches`), which methods it takes for the path, and
    sets Allow to them all, remembered by path. Other responses pass as they are.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the app's own list: routes added after this are seen too
        self._allow: dict[str, str | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # As it arrives: routing rewrites the scope's path and root_path on the way in.
        path, root_path = scope["path"], scope.get("root_path", "")

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = self.allow(path, root_path)
                if allow is not None:
                    MutableHeaders(scope=message)["allow"] = allow
            await send(message)

        await self.app(scope, receive, sender)

    def allow(self, path: str, root_path: str = "") -> str | None:
        """The Allow header for `path`; None when no route or a route there takes any method (a
        mount, which answers for itself)."""
        if path not in self._allow:
            served = [m for m in METHODS if any(route.matches(_probe(path, root_path, m))[0] is Match.FULL
                                                for route in self.routes)]
            if len(self._allow) >= ALLOW_CACHE_SIZE:
                self._allow.clear()  # paths with ids in them are endless; a 405 is rare
            self._allow[path] = ", ".join(served) if 0 < len(served) < len(METHODS) else None
        return self._allow[path]


def _probe(path: str, root_path: str, method: str) -> Scope:
    return {"type": "http", "path": path, "root_path": root_path, "method": method, "headers": [],
            "query_string": b""}


def _document_limits(app: FastAPI, limited: dict[str, Rule], max_body_bytes: int) -> None:
    """The OpenAPI document with the 413 and 429 answers the middleware gives."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(build(), limited, max_body_bytes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _offline_docs(app: FastAPI, openapi_url: str) -> None:
    """/docs and /redoc with their scripts from `DOCS_ASSETS`, in place of FastAPI's CDN ones."""
    assets = CachedFiles(DOCS_ASSETS_DIR, DOCS_ASSETS_CACHE)
    # No validator badge: Swagger UI would fetch it from swagger.io.
    parameters = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}

    async def swagger(request: Request) -> Response:
        """Swagger UI."""
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                                   oauth2_redirect_url=None, swagger_ui_parameters=parameters)

    async def redoc(request: Request) -> Response:
        """ReDoc."""
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.mount(DOCS_ASSETS, assets, name="docs-assets")
