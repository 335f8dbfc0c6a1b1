"""The app factory: settings in, a FastAPI app out; the engine loads in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from aurora_faq import __version__
from aurora_faq.engine import Engine
from aurora_faq.errors import EncoderMismatchError, IndexNotFoundError, IndexUnavailableError

from .errors import register_error_handlers
from .metrics import install_metrics, set_index
from .routes import admin, analytics, faq, feedback, health, search, suggest
from .serving import Follower, Serving, load_engine, make_served
from .settings import Settings, get_settings
from .storage.service import Storage
from .web import add_web

logger = logging.getLogger(__name__)


def unavailable_message(error: IndexUnavailableError, settings: Settings) -> str:
    """What went wrong with the index and the command that builds the one `settings` name."""
    command = f"aurora-build-index --faq data/faq.jsonl --out {settings.index_path} --encoder {settings.encoder}"
    if isinstance(error, EncoderMismatchError):
        return f"{error}; rebuild it with: {command}, or set AURORA_ENCODER={error.built_with}"
    return f"{error}; {'build' if isinstance(error, IndexNotFoundError) else 'rebuild'} it with: {command}"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One BLAS thread: the service runs searches side by side, and a second OpenBLAS thread
    # only spins after each small product, burning a core e5 needs (twice the CPU a ranking).
    # Process-wide, restored at shutdown.
    with threadpool_limits(limits=1, user_api="blas"):
        async with _storage(app), _serving(app):
            yield


def open_storage(settings: Settings) -> Storage | None:
    """The storage `settings` name, migrated and with its search log running; None (logged) when
    it cannot be opened: the service answers searches without it, and takes no feedback."""
    try:
        return Storage.open(settings.database_url, settings.data_dir, settings.retention_days)
    except Exception:
        logger.exception("storage unavailable: searches are not logged and feedback is off")
        return None


@asynccontextmanager
async def _storage(app: FastAPI) -> AsyncIterator[None]:
    app.state.storage = open_storage(app.state.settings)
    try:
        yield
    finally:
        storage: Storage | None = app.state.storage
        app.state.storage = None
        if storage is not None:
            storage.close()  # writes what the search log still holds


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[None]:
    serving: Serving = app.state.serving
    settings: Settings = app.state.settings
    if serving.current is None:
        try:
            serving.current = make_served(load_engine(settings), settings)
        except IndexUnavailableError as e:
            # Stay up: /healthz answers, /readyz and the API return 503 with this message.
            app.state.index_error = IndexUnavailableError(e.path, unavailable_message(e, settings))
            logger.error("%s", app.state.index_error)
    if serving.current is not None:
        app.state.index_error = None
        engine = serving.current.engine
        logger.info("serving %d FAQ entries (index %s, encoder %s)", len(engine.index.entries),
                    engine.index.version, engine.encoder.name)
        set_index(engine.index.version, len(engine.index.entries), len(engine.index.vectors.phrase_entry))
    storage: Storage | None = app.state.storage
    # Reloads and rollbacks made by the other processes on this database are repeated here.
    app.state.follower = None if storage is None else Follower(serving, storage.sessions, settings.reload_poll_seconds)
    try:
        yield
    finally:
        if app.state.follower is not None:
            app.state.follower.close()


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the service.

    Args:
        settings: configuration; read from the environment when omitted.
        engine: a ready engine (tests); when omitted the lifespan loads one from `settings`.

    Returns:
        The FastAPI application. Nothing heavy is loaded until its lifespan starts.
    """
    app = FastAPI(
        title="Aurora FAQ",
        version=__version__,
        summary="Answers AuroraBoutique shoppers' questions, in Japanese or English, from the FAQ.",
        lifespan=_lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN; add_web serves them offline
        redoc_url=None,
    )
    app.state.settings = settings or get_settings()
    app.state.serving = Serving(app.state.settings, make_served(engine, app.state.settings) if engine else None)
    app.state.follower = None
    app.state.index_error = None
    app.state.storage = None
    register_error_handlers(app)
    app.include_router(search.router)
    app.include_router(faq.router)
    app.include_router(health.router)
    app.include_router(suggest.router)
    app.include_router(feedback.router)
    app.include_router(analytics.router)
    app.include_router(admin.router)
    add_web(app, app.state.settings)  # middleware, the widget and offline /docs
    install_metrics(app)  # last: outermost, so that it times and counts what add_web's middleware answers too
    return app
