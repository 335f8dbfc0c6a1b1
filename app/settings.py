"""Service configuration: one `Settings` class, read from `AURORA_*` environment variables."""

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from aurora_faq.encoders import DEFAULT_ENCODER

from .batching import MAX_BATCH, MAX_INFLIGHT

_ORIGIN = re.compile(r"https?://[^/?#\s]+")


class Settings(BaseSettings):
    """Everything the service can be told; e.g. `AURORA_INDEX_PATH=/srv/index`."""

    model_config = SettingsConfigDict(env_prefix="AURORA_", extra="ignore")

    index_path: Path = Path("index")
    encoder: str = DEFAULT_ENCODER
    # None: the index's own, chosen when it was built (its manifest's "thresholds").
    answer_threshold: float | None = Field(None, ge=0.0, le=1.0)
    clarify_threshold: float | None = Field(None, ge=0.0, le=1.0)
    # A question naming a service the FAQ never writes is offered, not answered (`engine.decide`);
    # false: left to its confidence, for an FAQ that should answer questions about services it never names.
    limit_unwritten_names: bool = True
    fallback_ja: str = (
        "お役に立てる回答が見つかりませんでした。"
        "お手数ですが、公式LINEアカウントから注文番号を添えてお問い合わせください。"
    )
    fallback_en: str = (
        "Sorry, we couldn't find an answer to that. "
        "Please contact us on our official LINE account and include your order number."
    )
    cache_size: int = Field(1024, ge=0)
    # Micro-batching (app/batching.py): concurrent searches share one encoder call.
    batch_max: int = Field(MAX_BATCH, ge=1, le=256, description="most searches encoded together; 1 turns batching off")
    batch_inflight: int = Field(MAX_INFLIGHT, ge=1, le=8, description="most batches encoding at once")
    # A lone query is split over these; calls side by side run on one core each (E5Encoder).
    encoder_threads: int = Field(0, ge=0, le=64, description="e5 threads for a lone query; 0 for one a core")
    # Storage (app/storage): searches and feedback, masked, kept `retention_days`.
    data_dir: Path = Field(Path(".data"), description="where the default SQLite database lives; created on first start")
    database_url: str | None = Field(None, description="an SQLAlchemy URL; empty: SQLite in data_dir")
    retention_days: int = Field(90, ge=1, le=36500, description="searches and feedback older than this are deleted")
    search_log: bool = Field(True, description="store every search (masked); off: only feedback is stored")
    # Reload (app/serving.py): a new index is refused when, on these labelled questions (the
    # evaluation CLI's queries.jsonl), its top-1 accuracy or refusal rate falls more than
    # `gate_margin` below the serving index's. None: no evaluation gate.
    gate_queries: Path | None = None
    gate_margin: float = Field(0.02, ge=0.0, le=1.0)
    # Replicas and workers sharing one database pick up a reload or rollback made on another.
    reload_poll_seconds: float = Field(2.0, gt=0.0, le=3600.0)
    # Security (app/security.py, app/ratelimit.py). No admin key: the admin routes answer 403.
    admin_key: SecretStr | None = None
    # Per client address, in `limits` notation ("30/second", "1000/hour;30/second"); empty: no limit.
    rate_limit_search: str = "30/second"
    rate_limit_suggest: str = "60/second"
    rate_limit_feedback: str = "20/minute"
    # Where the counters live: `limits` storage URI; memory:// is per process, use
    # redis://host:port/0 so that several workers or replicas share them.
    rate_limit_storage: str = "memory://"
    # Peers whose X-Forwarded-For is believed (addresses or networks, e.g. "127.0.0.1,10.0.0.0/8").
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(65_536, ge=1024, le=16 * 1024 * 1024, description="larger request bodies get 413")
    log_format: Literal["text", "json"] = "text"
    workers: int = Field(1, ge=1, le=64, description="server processes; each loads its own model and index")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)  # 0: any free port
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Pages on these origins may call the API from the browser (CORS), e.g. a shop whose pages
    # are served from another host than the service: `https://shop.example,https://www.shop.example`
    # or a JSON list. Empty: the widget comes from the service itself, and no CORS header is sent.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        # NoDecode: the variable arrives as written, as JSON or comma-separated.
        if isinstance(value, str):
            return json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = [origin.strip().rstrip("/") for origin in value if origin.strip()]
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin: write scheme and host, such as "
                                 "https://shop.example or http://localhost:8080, without a path")
        return origins

    @field_validator("rate_limit_search", "rate_limit_suggest", "rate_limit_feedback")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            items = parse_many(value)
        except ValueError as e:
            raise ValueError(f"{value!r} is not a rate limit ({e}): write e.g. '30/second' or '20/minute', several "
                             "joined by ';' ('1000/hour;30/second'), or nothing for no limit") from e
        if any(item.amount < 1 for item in items):
            raise ValueError(f"{value!r} refuses every request: leave it empty for no limit")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        proxies = [proxy.strip() for proxy in value if proxy.strip()]
        if "*" in proxies and len(proxies) > 1:
            raise ValueError("'*' (every peer is a proxy) stands alone; name the proxies or write '*' only")
        for proxy in proxies:
            if proxy == "*":
                continue
            try:
                ipaddress.ip_network(proxy)  # strict: a typo'd network would otherwise trust nobody, silently
            except ValueError as e:
                raise ValueError(f"{proxy!r} is not an IP address or network ({e}): write e.g. 127.0.0.1, "
                                 "::1 or 10.0.0.0/8") from e
        return proxies

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Self:
        if (self.clarify_threshold is not None and self.answer_threshold is not None
                and self.clarify_threshold > self.answer_threshold):
            raise ValueError(f"clarify_threshold ({self.clarify_threshold}) must not exceed "
                             f"answer_threshold ({self.answer_threshold})")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
