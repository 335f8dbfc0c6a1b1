"""Every way a request can go wrong answers with the one envelope, a fitting status and a
message saying what to fix; a missing or broken index leaves the service up but not ready."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.serving import load_engine
from app.settings import Settings
from aurora_faq.calibration import FEATURES
from tests.conftest import edit_manifest

ClientFactory = Callable[..., AbstractContextManager[TestClient]]
WRONG_CONTENT_TYPE = "send a JSON body with Content-Type: application/json"


def assert_error(response: Any, status: int, code: str, *fragments: str) -> str:
    """The response is the envelope with this status and code; its message holds each fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# (params, fragments of the message) — each a request the shopper's client must fix.
BAD_SEARCHES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"q": ""}, ("'q' is empty",)),
    ({"q": "   \t "}, ("'q' is empty",)),
    ({"q": "a" * 1001}, ("1001 characters", "at most 1000")),
    ({"q": "\x00\x01\x1b\x7f"}, ("only control characters",)),
    ({"q": "hi", "k": 0}, ("k must be between 1 and 20",)),
    ({"q": "hi", "k": 21}, ("k must be between 1 and 20",)),
    ({"q": "hi", "k": "abc"}, ("k must be a whole number",)),
    ({"q": "hi", "k": 2.5}, ("k must be a whole number",)),
    ({"q": "hi", "lang": "fr"}, ("lang must be", "'ja'", "'en'", "'fr'")),
    ({"k": 3}, ("'q' is required",)),
    ({"q": "hi", "langg": "en"}, ("unknown", "'langg'")),
    ({"q": "hi", "category": "c" * 201}, ("category", "at most 200")),
]
BAD_IDS = [", ".join(map(str, p.items()))[:40] for p, _ in BAD_SEARCHES]


@pytest.mark.parametrize(("params", "fragments"), BAD_SEARCHES, ids=BAD_IDS)
def test_bad_search_query_string_is_422(client: TestClient, params: dict[str, Any],
                                        fragments: tuple[str, ...]) -> None:
    assert_error(client.get("/v1/search", params=params), 422, "invalid_request", *fragments)


@pytest.mark.parametrize(("params", "fragments"), BAD_SEARCHES, ids=BAD_IDS)
def test_bad_search_body_is_422(client: TestClient, params: dict[str, Any],
                                fragments: tuple[str, ...]) -> None:
    assert_error(client.post("/v1/search", json=params), 422, "invalid_request", *fragments)


@pytest.mark.parametrize(("body", "field"), [({"q": "hi", "k": True}, "k"), ({"q": 42}, "q"),
                                             ({"q": ["hi"]}, "q"), ({"q": None}, "q"),
                                             ({"q": "hi", "lang": 1}, "lang")])
def test_wrongly_typed_body_fields_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    assert_error(client.post("/v1/search", json=body), 422, "invalid_request", f"{field} must be")


def test_same_problem_same_message_in_query_string_and_body(client: TestClient) -> None:
    def gist(message: str) -> str:  # a query string has only strings: k=2.5 arrives as '2.5'
        return message.replace("query parameter", "field").replace("body field", "field").replace("'", "")

    for params, _ in BAD_SEARCHES:
        got = client.get("/v1/search", params=params).json()["error"]["message"]
        posted = client.post("/v1/search", json=params).json()["error"]["message"]
        assert gist(got) == gist(posted)


def test_unpaired_surrogate_is_422(client: TestClient) -> None:
    response = client.post("/v1/search", content=b'{"q": "hi \\ud800"}',
                           headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request", "q must be valid Unicode text")


@pytest.mark.parametrize("raw", [b'{"q": "hi"', b"{q: hi}", b'{"q": "hi"} trailing', b"\xff\xfe\x00",
                                 b'{"q": "\xff"}'])
def test_malformed_json_is_422(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/search", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_json", "request body is not valid JSON: ")


@pytest.mark.parametrize("request_kwargs", [
    {"content": b"q=hi", "headers": {"Content-Type": "text/plain"}},
    {"content": b'{"q": "hi"}', "headers": {"Content-Type": "text/plain"}},
    {"data": {"q": "hi"}},
    {"files": {"q": ("q.txt", b"hi")}},
    {"content": b'{"q": "hi"}'},  # no Content-Type at all
    {},  # no body at all
], ids=["text", "json-as-text", "form", "multipart", "no-content-type", "no-body"])
def test_non_json_body_is_422(client: TestClient, request_kwargs: dict[str, Any]) -> None:
    message = assert_error(client.post("/v1/search", **request_kwargs), 422, "wrong_content_type")
    assert message == WRONG_CONTENT_TYPE


def test_json_with_charset_and_vendor_types_is_accepted(client: TestClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.aurora+json"):
        response = client.post("/v1/search", content=b'{"q": "hi"}', headers={"Content-Type": content_type})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(("raw", "fragment"), [(b"", "request body is empty"), (b"[1, 2]", "JSON object"),
                                               (b'"hi"', "got string"), (b"null", "got null")])
def test_json_body_that_is_not_an_object_is_422(client: TestClient, raw: bytes, fragment: str) -> None:
    response = client.post("/v1/search", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request", fragment)


def test_unknown_entry_is_404(client: TestClient) -> None:
    response = client.get("/v1/faq/no-such-entry")
    assert_error(response, 404, "not_found", "no FAQ entry with id 'no-such-entry'")


def test_bad_faq_parameters_are_422(client: TestClient) -> None:
    assert_error(client.get("/v1/faq", params={"lang": "de"}), 422, "invalid_request", "lang must be", "'de'")
    assert_error(client.get("/v1/faq/payment-methods", params={"lang": "de"}), 422, "invalid_request", "lang")
    assert_error(client.get("/v1/faq/" + "x" * 201), 422, "invalid_request", "entry_id", "at most 200")


def test_unknown_route_and_method_use_the_envelope(client: TestClient) -> None:
    assert_error(client.get("/v2/nothing"), 404, "not_found", "/v2/nothing")
    assert_error(client.delete("/v1/search"), 405, "method_not_allowed", "DELETE")


# -- the index ---------------------------------------------------------------------------------

def assert_not_ready(client: TestClient, *fragments: str) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    readyz = assert_error(client.get("/readyz"), 503, "index_unavailable", *fragments)
    for response in (client.get("/v1/search", params={"q": "送料"}),
                     client.post("/v1/search", json={"q": "hi"}),
                     client.get("/v1/faq"), client.get("/v1/faq/payment-methods")):
        assert assert_error(response, 503, "index_unavailable") == readyz
    # Bad input is still the client's to fix, index or not.
    assert_error(client.get("/v1/search", params={"q": "hi", "k": 0}), 422, "invalid_request")
    assert_error(client.get("/v1/search", params={"q": "  "}), 422, "invalid_request")


@pytest.fixture
def index_copy(index_dir: Path, tmp_path: Path) -> Path:
    """A throwaway copy of the fake-encoder index, for breaking."""
    return Path(shutil.copytree(index_dir, tmp_path / "index"))


def rebuild(path: Path) -> str:
    """The command the service quotes for building the index at `path` (settings: encoder fake)."""
    return f"aurora-build-index --faq data/faq.jsonl --out {path} --encoder fake"


def test_no_index_starts_and_says_how_to_build_one(make_client: ClientFactory, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nothing-here"
    with caplog.at_level(logging.ERROR, logger="app.main"), make_client(index_path=missing) as client:
        assert_not_ready(client, f"no index at {missing}; build it with: {rebuild(missing)}")
    assert any(rebuild(missing) in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_index_built_with_another_encoder_is_refused(make_client: ClientFactory, index_copy: Path) -> None:
    edit_manifest(index_copy, encoder="other")
    with make_client(index_path=index_copy) as client:
        assert_not_ready(client, "built with encoder 'other' but 'fake' is configured",
                         f"rebuild it with: {rebuild(index_copy)}, or set AURORA_ENCODER=other")


def test_index_of_another_format_is_refused(make_client: ClientFactory, index_copy: Path) -> None:
    edit_manifest(index_copy, format=2)
    with make_client(index_path=index_copy) as client:
        assert_not_ready(client, "format 2", f"rebuild it with: {rebuild(index_copy)}")


@pytest.mark.parametrize("key", ["calibration", "calibration_across_languages"])
def test_index_calibrated_on_another_feature_list_is_refused(make_client: ClientFactory, index_copy: Path,
                                                             key: str) -> None:
    calibration = json.loads((index_copy / "manifest.json").read_text())[key]
    edit_manifest(index_copy, **{key: {**calibration, "features": list(FEATURES[:-1])}})
    with make_client(index_path=index_copy) as client:
        assert_not_ready(client, "calibrated on other features than this version computes "
                                 "(missing ['clf*unknown_name']",
                         f"rebuild it with: {rebuild(index_copy)}")


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_corrupt_index_is_refused(make_client: ClientFactory, index_copy: Path, damage: str) -> None:
    vectors = index_copy / "phrases.npy"
    if damage == "delete":
        vectors.unlink()
    else:
        vectors.write_bytes(b"not a numpy file")
    with make_client(index_path=index_copy) as client:
        assert_not_ready(client, "corrupt", f"rebuild it with: {rebuild(index_copy)}")


def test_unreadable_manifest_is_refused(make_client: ClientFactory, index_copy: Path) -> None:
    (index_copy / "manifest.json").write_text("{not json")
    with make_client(index_path=index_copy) as client:
        assert_not_ready(client, "unreadable manifest", f"rebuild it with: {rebuild(index_copy)}")


class _BrokenEngine:
    """Stands in for an engine with a bug: the one way to reach the 500 handler."""

    def __init__(self, real: Any) -> None:
        self.index, self.encoder = real.index, real.encoder

    def cached(self, query: Any) -> None:
        return None

    def search(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the engine")

    encode = search  # what the micro-batcher calls


@pytest.mark.parametrize("batch_max", [1, 32], ids=["unbatched", "batched"])
def test_unexpected_errors_are_500_in_the_envelope_and_logged(settings: Settings, batch_max: int,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    settings = settings.model_copy(update={"batch_max": batch_max})
    app = create_app(settings, engine=_BrokenEngine(load_engine(settings)))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="app.errors"), \
            TestClient(app, raise_server_exceptions=False) as client:
        message = assert_error(client.get("/v1/search", params={"q": "hi"}), 500, "internal_error")
    assert "bug in the engine" not in message  # internals stay in the log
    assert any(r.exc_info and "bug in the engine" in str(r.exc_info[1]) for r in caplog.records)
