"""Shared fixtures: a small index built once with the fake encoder, and clients serving it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from aurora_faq.build import build_index
from aurora_faq.encoders import FakeEncoder

FAQ_PATH = Path(__file__).resolve().parents[1] / "data" / "faq.jsonl"

ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/faq.jsonl indexed with the fake encoder (about a second, once per session)."""
    out = tmp_path_factory.mktemp("aurora") / "index"
    build_index(FAQ_PATH, out, FakeEncoder(), cache_dir=None)
    return out


@pytest.fixture(scope="session")
def faq() -> dict[str, dict[str, Any]]:
    """data/faq.jsonl as raw JSON objects by id: what the API should hand back."""
    lines = FAQ_PATH.read_text(encoding="utf-8").splitlines()
    return {str(e["id"]): e for e in map(json.loads, filter(str.strip, lines))}


@pytest.fixture
def settings(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the fake-encoder index, untouched by any AURORA_* variable of the caller."""
    for name in [n for n in os.environ if n.startswith("AURORA_")]:
        monkeypatch.delenv(name)
    return Settings(index_path=index_dir, encoder="fake")


@pytest.fixture
def make_client(settings: Settings) -> ClientFactory:
    """`with make_client(index_path=...) as client:` a client over settings with overrides."""

    @contextmanager
    def factory(**overrides: object) -> Iterator[TestClient]:
        app = create_app(settings.model_copy(update=overrides))
        with TestClient(app) as client:
            yield client

    return factory


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    """A client over the fake-encoder index, lifespan run (so the index is loaded)."""
    with make_client() as client:
        yield client
