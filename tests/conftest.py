"""Shared fixtures: a small index built once with the fake encoder, and clients serving it."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from aurora_faq.build import build_index
from aurora_faq.encoders import FakeEncoder
from aurora_faq.index import FaqIndex, load_index
from aurora_faq.text import default_tokenizer

# Real PostgreSQL and Redis servers for the tests that need them.
pytest_plugins = ["tests.services"]

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
def settings(index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the fake-encoder index, untouched by any AURORA_* variable of the caller;
    storage in the test's own directory, never in the repository."""
    for name in [n for n in os.environ if n.startswith("AURORA_")]:
        monkeypatch.delenv(name)
    return Settings(index_path=index_dir, encoder="fake", data_dir=tmp_path / "data")


@pytest.fixture
def make_client(settings: Settings) -> ClientFactory:
    """`with make_client(index_path=...) as client:` a client over settings with overrides."""

    @contextmanager
    def factory(**overrides: object) -> Iterator[TestClient]:
        # Validated as the environment would be (an admin key becomes a SecretStr, limits are checked).
        app = create_app(Settings(**{**settings.model_dump(), **overrides}))
        with TestClient(app) as client:
            yield client

    return factory


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    """A client over the fake-encoder index, lifespan run (so the index is loaded)."""
    with make_client() as client:
        yield client


# -- core-package fixtures: a tiny hand-written FAQ, a counting encoder, the CLI scripts -------

REPO = Path(__file__).resolve().parents[1]

# Six entries: bilingual, English-only and Japanese-only ones, three categories, and one entry
# with 50 near-identical alternates (to show that many phrasings do not crowd others out).
TINY_FAQ: list[dict[str, Any]] = [
    {"id": "cancel-order", "category": "order",
     "question": {"en": "How do I cancel my order?", "ja": "注文をキャンセルしたい"},
     "answer": {"en": "Open your order history and press Cancel before it ships.",
                "ja": "発送前なら注文履歴からキャンセルできます。"},
     "alternates": {"en": ["cancel order", "I want to cancel my purchase", "stop my order"],
                    "ja": ["注文の取り消し", "キャンセル方法"]}},
    {"id": "delivery-time", "category": "shipping",
     "question": {"en": "When will my package arrive?", "ja": "いつ届きますか？"},
     "answer": {"en": "Orders arrive within three to five business days.",
                "ja": "通常3〜5営業日でお届けします。"},
     "alternates": {"en": ["delivery time", "how long does shipping take"],
                    "ja": ["配送日数", "到着まで何日"]}},
    {"id": "coupon-how-to", "category": "payment",
     "question": {"en": "How do I use a coupon?", "ja": "クーポンの使い方"},
     "answer": {"en": "Enter the coupon code at checkout.",
                "ja": "ご購入手続きの画面でクーポンコードを入力してください。"},
     "alternates": {"en": ["coupon code", "discount code not working"],
                    "ja": ["クーポンコード", "割引コード"]}},
    {"id": "returns", "category": "order",
     "question": {"en": "Can I return an item?"},
     "answer": {"en": "Returns are accepted within 30 days of delivery."},
     "alternates": {"en": ["return policy", "send it back"]}},
    {"id": "gift-wrap", "category": "order",
     "question": {"ja": "ギフト包装はできますか？"},
     "answer": {"ja": "ご注文時にギフト包装を選べます。"},
     "alternates": {"ja": ["ラッピング", "プレゼント用に包んで"]}},
    {"id": "tracking", "category": "shipping",
     "question": {"en": "Where can I find my tracking number?"},
     "answer": {"en": "The tracking number is in the shipping email."},
     "alternates": {"en": [f"where is my tracking number {i}" for i in range(50)]}},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """One JSON value a line (non-ASCII kept as is, as a store's export would write it)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def edit_manifest(index_dir: Path, **changes: Any) -> None:
    """Rewrite an index's manifest with these keys replaced (None: removed)."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    (index_dir / "manifest.json").write_text(json.dumps(manifest))


class CountingEncoder(FakeEncoder):
    """The fake encoder, recording every text it is asked to encode and every call."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls = 0

    def encode_queries(self, texts: Any) -> Any:
        self.texts.extend(texts)
        self.calls += 1
        return super().encode_queries(texts)

    def encode_documents(self, texts: Any) -> Any:
        return self.encode_queries(texts)


@pytest.fixture
def counting_encoder() -> CountingEncoder:
    return CountingEncoder()


@pytest.fixture
def make_counting_encoder() -> type[CountingEncoder]:
    """For tests that need more than one counting encoder."""
    return CountingEncoder


@pytest.fixture
def tiny_faq() -> list[dict[str, Any]]:
    """A fresh copy of TINY_FAQ's entries, free to edit."""
    return copy.deepcopy(TINY_FAQ)


@pytest.fixture(name="write_jsonl")
def write_jsonl_fixture() -> Callable[[Path, list[Any]], Path]:
    """`write_jsonl(path, rows)` for tests that write their own FAQ or query files."""
    return write_jsonl


@pytest.fixture(scope="session")
def tiny_faq_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TINY_FAQ as a file (read-only: copy it before editing)."""
    return write_jsonl(tmp_path_factory.mktemp("tiny") / "faq.jsonl", TINY_FAQ)


@pytest.fixture(scope="session")
def tiny_index_dir(tiny_faq_path: Path) -> Path:
    """TINY_FAQ indexed with the fake encoder (read-only: copy it before breaking it)."""
    out = tiny_faq_path.parent / "index"
    build_index(tiny_faq_path, out, FakeEncoder(), cache_dir=None)
    return out


@pytest.fixture(scope="session")
def tiny_index(tiny_index_dir: Path) -> FaqIndex:
    """The tiny index loaded as the service loads it; engines over it must not modify it."""
    return load_index(tiny_index_dir, "fake", default_tokenizer())


@pytest.fixture(scope="session")
def english_index(tmp_path_factory: pytest.TempPathFactory) -> FaqIndex:
    """TINY_FAQ's English text alone, indexed with the fake encoder and loaded (read-only).

    Five entries with 64 phrasings: enough alternates an entry that the build fits a classifier
    (`classifier.worth_fitting`), so Japanese questions take the cross-language path.
    """
    english = [{"id": e["id"], "category": e["category"], "question": {"en": e["question"]["en"]},
                "answer": {"en": e["answer"]["en"]}, "alternates": {"en": e["alternates"]["en"]}}
               for e in TINY_FAQ if "en" in e["question"]]
    root = tmp_path_factory.mktemp("english")
    build_index(write_jsonl(root / "faq.jsonl", english), root / "index", FakeEncoder(), cache_dir=None)
    return load_index(root / "index", "fake", default_tokenizer())


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"aurora_script_{name}", REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_cli() -> ModuleType:
    """scripts/build_index.py as a module (call its `main(argv)`)."""
    return _load_script("build_index")


@pytest.fixture(scope="session")
def evaluate_cli() -> ModuleType:
    """scripts/evaluate.py as a module (call its `main(argv)`)."""
    return _load_script("evaluate")
