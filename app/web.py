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
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

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
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    if settings.cors_origins:
        # Outermost, so that a preflight is answered before anything else runs.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"], expose_headers=["Server-Timing"], max_age=600)


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
