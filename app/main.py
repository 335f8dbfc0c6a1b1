"""The app factory: settings in, a FastAPI app out; the engine loads in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from aurora_faq import __version__
from aurora_faq.encoders import make_encoder
from aurora_faq.engine import Engine, Thresholds
from aurora_faq.errors import EncoderMismatchError, IndexNotFoundError, IndexUnavailableError
from aurora_faq.index import load_index, read_manifest
from aurora_faq.suggest import Suggester
from aurora_faq.text import default_tokenizer

from .batching import MicroBatcher
from .errors import register_error_handlers
from .routes import analytics, faq, feedback, health, search, suggest
from .settings import Settings, get_settings
from .storage.service import Storage
from .web import add_web

logger = logging.getLogger(__name__)


def load_engine(settings: Settings) -> Engine:
    """Load the encoder and the index that `settings` name.

    Args:
        settings: index path, encoder spec, thresholds, fallbacks and cache size.

    Returns:
        An engine ready to answer.

    Raises:
        IndexUnavailableError: no index, a corrupt or outdated one, or one built with another
            encoder (`unavailable_message` says how to fix it).
    """
    # Reading the manifest first reports a missing index before a model takes seconds to load.
    read_manifest(settings.index_path)
    # Warms up: first-call costs are paid here.
    encoder = make_encoder(settings.encoder, threads=settings.encoder_threads or None)
    index = load_index(settings.index_path, encoder.name, default_tokenizer())
    return Engine(
        index,
        encoder,
        Thresholds.from_manifest(index.manifest["thresholds"], settings.answer_threshold,
                                 settings.clarify_threshold),
        fallback={"ja": settings.fallback_ja, "en": settings.fallback_en},
        cache_size=settings.cache_size,
    )


def unavailable_message(error: IndexUnavailableError, settings: Settings) -> str:
    """What went wrong with the index and the command that builds the one `settings` name."""
    command = f"aurora-build-index --faq data/faq.jsonl --out {settings.index_path} --encoder {settings.encoder}"
    if isinstance(error, EncoderMismatchError):
        return f"{error}; rebuild it with: {command}, or set AURORA_ENCODER={error.built_with}"
    return f"{error}; {'build' if isinstance(error, IndexNotFoundError) else 'rebuild'} it with: {command}"


def make_batcher(engine: Engine, settings: Settings) -> MicroBatcher | None:
    """The micro-batcher `settings` ask for in front of `engine`, or None when batching is off."""
    if settings.batch_max <= 1:
        return None
    return MicroBatcher(engine, max_batch=settings.batch_max, max_inflight=settings.batch_inflight)


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
    if app.state.engine is None:
        settings: Settings = app.state.settings
        try:
            app.state.engine = load_engine(settings)
        except IndexUnavailableError as e:
            # Stay up: /healthz answers, /readyz and the API return 503 with this message.
            app.state.index_error = IndexUnavailableError(e.path, unavailable_message(e, settings))
            logger.error("%s", app.state.index_error)
    engine: Engine | None = app.state.engine
    if engine is not None:
        app.state.index_error = None
        app.state.batcher = make_batcher(engine, app.state.settings)
        app.state.suggester = Suggester.build(engine.index.entries)
        logger.info("serving %d FAQ entries (index %s, encoder %s)", len(engine.index.entries),
                    engine.index.version, engine.encoder.name)
    yield


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
    app.state.engine = engine
    app.state.batcher = None
    app.state.suggester = None
    app.state.index_error = None
    app.state.storage = None
    register_error_handlers(app)
    app.include_router(search.router)
    app.include_router(faq.router)
    app.include_router(health.router)
    app.include_router(suggest.router)
    app.include_router(feedback.router)
    app.include_router(analytics.router)
    add_web(app, app.state.settings)  # last: middleware, the widget and offline /docs
    return app
