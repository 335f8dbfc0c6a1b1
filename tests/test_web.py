"""What a browser loads besides the API (app/web.py): the widget's files, the demo page, offline
docs, compression, CORS and /v1/capabilities."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.settings import Settings
from app.web import DEMO_CSP, GZIP_MIN_BYTES, STATIC_DIR

ClientFactory = Callable[..., AbstractContextManager[TestClient]]
SHOP = "https://shop.example"
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8"}


@pytest.fixture
def web(make_client: ClientFactory) -> Iterator[TestClient]:
    with make_client() as client:
        yield client


def static_files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in MEDIA)


# -- the widget's files -----------------------------------------------------------------------


def test_widget_js_is_served_with_its_type_and_cache_headers(web: TestClient) -> None:
    r = web.get("/widget.js")
    assert r.status_code == 200
    assert r.content == (STATIC_DIR / "widget.js").read_bytes()
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r'"[0-9a-f]+"', r.headers["etag"])


@pytest.mark.parametrize("path", static_files(), ids=lambda p: p.name)
def test_every_static_file_is_served_under_widget(web: TestClient, path: Path) -> None:
    r = web.get(f"/widget/{path.name}")
    assert r.status_code == 200
    assert r.content == path.read_bytes()
    assert r.headers["content-type"] == MEDIA[path.suffix]


@pytest.mark.parametrize("url", ["/widget.js", "/widget/demo.css"])
def test_an_unchanged_file_is_a_304(web: TestClient, url: str) -> None:
    etag = web.get(url).headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}'):
        r = web.get(url, headers={"If-None-Match": sent})
        assert (r.status_code, r.content, r.headers["etag"]) == (304, b"", etag)
        assert r.headers["cache-control"] == "no-cache"
    assert web.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("raw_path", [
    "/widget/nope.js", "/widget/..%2Fmain.py", "/widget/..%2F..%2Fpyproject.toml", "/widget/%2e%2e/web.py",
    "/widget/%2Fetc%2Fpasswd", "/widget/", "/widget",
])
def test_anything_but_a_static_file_is_a_404_in_the_envelope(web: TestClient, raw_path: str) -> None:
    r = web.get(raw_path)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_static_files_are_read_only(web: TestClient) -> None:
    r = web.post("/widget/demo.css")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


# -- the demo page ----------------------------------------------------------------------------


def test_demo_page_has_a_strict_csp(web: TestClient) -> None:
    r = web.get("/demo")
    assert r.status_code == 200
    assert r.content == (STATIC_DIR / "demo.html").read_bytes()
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == DEMO_CSP
    assert "script-src 'self';" in DEMO_CSP and "frame-ancestors 'none'" in DEMO_CSP


def test_home_redirects_to_the_demo(web: TestClient) -> None:
    r = web.get("/", follow_redirects=False)
    assert r.status_code in {302, 307}
    assert r.headers["location"] == "/demo"


def test_capabilities_offer_feedback_when_storage_is_on(web: TestClient) -> None:
    assert web.get("/v1/capabilities").json() == {"feedback": True}
    spec = web.get("/openapi.json").json()
    assert "Capabilities" in spec["components"]["schemas"]


# -- compression ------------------------------------------------------------------------------


def test_large_responses_are_gzipped_for_clients_that_accept_it(web: TestClient) -> None:
    plain = web.get("/v1/faq", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) >= GZIP_MIN_BYTES
    with web.stream("GET", "/v1/faq", headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in r.headers["vary"].lower()
    assert len(raw) < len(plain.content) / 2
    assert gzip.decompress(raw) == plain.content


def test_small_responses_go_as_they_are(web: TestClient) -> None:
    r = web.get("/v1/capabilities", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers
    assert r.json() == {"feedback": True}


def test_the_widget_is_gzipped_too(web: TestClient) -> None:
    if (STATIC_DIR / "widget.js").stat().st_size < GZIP_MIN_BYTES:
        pytest.skip("widget.js is smaller than the gzip threshold")
    r = web.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == (STATIC_DIR / "widget.js").read_bytes()  # decoded by the client


# -- CORS -------------------------------------------------------------------------------------


def test_no_cors_headers_by_default(web: TestClient) -> None:
    r = web.get("/v1/capabilities", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in r.headers
    preflight = web.options("/v1/search", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_answers_only_the_configured_origins(make_client: ClientFactory) -> None:
    with make_client(cors_origins=[SHOP]) as client:
        r = client.get("/v1/capabilities", headers={"Origin": SHOP})
        assert r.headers["access-control-allow-origin"] == SHOP
        assert "server-timing" in r.headers["access-control-expose-headers"].lower()
        preflight = client.options("/v1/search", headers={
            "Origin": SHOP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == SHOP
        assert "POST" in preflight.headers["access-control-allow-methods"]
        other = "https://other.example"
        assert "access-control-allow-origin" not in client.get("/v1/capabilities", headers={"Origin": other}).headers
        refused = client.options("/v1/search", headers={"Origin": other, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize(("value", "origins"), [
    ("https://shop.example", [SHOP]),
    ("https://shop.example/, http://localhost:8080", [SHOP, "http://localhost:8080"]),
    ('["https://shop.example", "https://www.shop.example"]', [SHOP, "https://www.shop.example"]),
    ("", []),
])
def test_cors_origins_setting_reads_a_list_or_json(monkeypatch: pytest.MonkeyPatch, settings: Settings,
                                                   value: str, origins: list[str]) -> None:
    # `settings` for its clean environment: no AURORA_* variable of the caller's.
    monkeypatch.setenv("AURORA_CORS_ORIGINS", value)
    assert Settings().cors_origins == origins


@pytest.mark.parametrize("value", ["shop.example", "https://shop.example/faq", '["https://shop.example"'])
def test_cors_origins_setting_refuses_what_is_not_an_origin(monkeypatch: pytest.MonkeyPatch, settings: Settings,
                                                            value: str) -> None:
    monkeypatch.setenv("AURORA_CORS_ORIGINS", value)
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings()


# -- the API's own docs, offline --------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_nothing_from_elsewhere(web: TestClient, page: str) -> None:
    r = web.get(page)
    assert r.status_code == 200
    assert "https://" not in r.text and "http://" not in r.text
    urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', r.text) + re.findall(r"url: '([^']+)'", r.text)
    assert "/openapi.json" in urls
    for url in urls:
        asset = web.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100


def test_docs_assets_are_the_bundles_with_their_types(web: TestClient) -> None:
    js = web.get("/docs-assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.headers["content-encoding"] == "gzip"
    assert "SwaggerUIBundle" in js.text
    assert web.get("/docs-assets/swagger-ui.css").headers["content-type"] == "text/css; charset=utf-8"
    assert web.get("/docs-assets/nope.js").json()["error"]["code"] == "not_found"


def test_only_the_offline_docs_are_routed(web: TestClient) -> None:
    assert isinstance(web.app, FastAPI)
    paths = [getattr(route, "path", None) for route in web.app.routes]
    assert paths.count("/docs") == 1 and paths.count("/redoc") == 1
