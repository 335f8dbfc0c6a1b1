"""What stands between a client and the API (app/ratelimit.py, app/security.py): rate limits per
client address, X-Forwarded-For believed only from trusted proxies, the body size limit, the
settings that configure them, and the admin key."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from starlette.types import Message, Receive, Scope, Send

from app.main import create_app
from app.ratelimit import SWEEP_SECONDS, BodySizeLimitMiddleware, LoopStorage
from app.security import require_admin
from app.settings import Settings
from tests.test_api_errors import assert_error

PEER = "x-test-peer"  # see `Peers`
ENTRY = "payment-methods"  # an entry of data/faq.jsonl
NO_LIMITS = {"rate_limit_search": "", "rate_limit_suggest": "", "rate_limit_feedback": ""}


class Peers:
    """The service as reached over a network: each request names (in `PEER`) the address its
    connection comes from, which the server puts in `scope["client"]`; by default 192.0.2.1."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(PEER.encode(), b"192.0.2.1").decode()
            scope["client"] = (peer, 50000)
        await self.app(scope, receive, send)


ServiceFactory = Callable[..., Any]


@pytest.fixture
def service(settings: Settings) -> ServiceFactory:
    """`with service(**overrides) as client:` the fake-encoder service behind `Peers`, every rate
    limit off unless an override sets one."""

    @contextmanager
    def factory(**overrides: object) -> Iterator[TestClient]:
        app = create_app(settings.model_copy(update={**NO_LIMITS, **overrides}))
        with TestClient(Peers(app)) as client:
            yield client

    return factory


def from_peer(peer: str, **headers: str) -> dict[str, str]:
    return {PEER: peer, **headers}


# -- rate limits ------------------------------------------------------------------------------

# (setting, method, path, request keywords, status when let through)
LIMITED = [
    ("rate_limit_search", "GET", "/v1/search", {"params": {"q": "送料はいくらですか"}}, 200),
    ("rate_limit_search", "POST", "/v1/search", {"json": {"q": "how much is shipping?"}}, 200),
    ("rate_limit_suggest", "GET", "/v1/suggest", {"params": {"q": "クーポ"}}, 200),
    ("rate_limit_feedback", "POST", "/v1/feedback", {"json": {"answer_id": ENTRY, "helpful": True}}, 201),
]


@pytest.mark.parametrize(("setting", "method", "path", "request_kw", "ok"), LIMITED,
                         ids=[f"{m} {p}" for _, m, p, _, _ in LIMITED])
def test_a_limited_route_lets_exactly_n_requests_through_then_answers_429(
        service: ServiceFactory, setting: str, method: str, path: str, request_kw: dict[str, Any], ok: int) -> None:
    with service(**{setting: "3/minute"}) as client:
        statuses = [client.request(method, path, **request_kw).status_code for _ in range(3)]
        assert statuses == [ok] * 3
        refused = client.request(method, path, **request_kw)
        assert_error(refused, 429, "too_many_requests", path, "3 per 1 minute", "retry in")
        retry_after = refused.headers["retry-after"]
        assert retry_after.isdigit() and 59 <= int(retry_after) <= 60
        assert f"retry in {retry_after} s" in refused.json()["error"]["message"]
        # Another address is counted apart.
        assert client.request(method, path, headers=from_peer("192.0.2.2"), **request_kw).status_code == ok


def test_the_search_limit_counts_get_and_post_together_and_apart_from_suggest(service: ServiceFactory) -> None:
    with service(rate_limit_search="2/minute", rate_limit_suggest="2/minute") as client:
        assert client.get("/v1/search", params={"q": "送料"}).status_code == 200
        assert client.post("/v1/search", json={"q": "送料"}).status_code == 200
        assert client.get("/v1/search", params={"q": "送料"}).status_code == 429
        assert client.post("/v1/search", json={"q": "送料"}).status_code == 429
        assert client.get("/v1/suggest", params={"q": "クーポ"}).status_code == 200
        # Routes without a limit are never refused.
        assert all(client.get("/v1/faq").status_code == 200 for _ in range(5))


class Clock:
    """`time.time` under the test's control: limits' counts and Retry-After read it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_retry_after_is_when_a_retry_is_let_through(service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    with service(rate_limit_suggest="2/minute") as client:
        def suggest() -> Any:
            return client.get("/v1/suggest", params={"q": "a"})

        assert suggest().status_code == 200  # opens the client's window, for 60 s
        clock.now += 20
        assert suggest().status_code == 200
        clock.now += 5
        refused = suggest()
        assert refused.status_code == 429 and refused.headers["retry-after"] == "35"
        clock.now += 34.5
        assert suggest().headers["retry-after"] == "1"  # refused requests do not prolong the wait
        clock.now += 0.5
        assert [suggest().status_code for _ in range(3)] == [200, 200, 429]  # a new window
        assert suggest().headers["retry-after"] == "60"
        clock.now += 59
        assert suggest().status_code == 429
        clock.now += 1
        assert suggest().status_code == 200


def test_several_limits_each_hold_and_a_refused_burst_does_not_use_up_the_longer_one(
        service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    with service(rate_limit_suggest="5/hour;2/second") as client:
        def suggest() -> int:
            return client.get("/v1/suggest", params={"q": "a"}).status_code

        assert [suggest() for _ in range(4)] == [200, 200, 429, 429]
        clock.now += 2
        assert [suggest() for _ in range(4)] == [200, 200, 429, 429]  # 4 of the hour's 5 used
        clock.now += 2
        assert suggest() == 200
        refused = client.get("/v1/suggest", params={"q": "a"})
        assert_error(refused, 429, "too_many_requests", "5 per 1 hour")
        assert refused.headers["retry-after"] == str(3600 - 4)


def test_ended_windows_are_swept_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    storage = LoopStorage()
    for i in range(1000):
        storage.incr(f"client-{i}", expiry=1)
    clock.now += SWEEP_SECONDS
    storage.incr("another", expiry=1)  # opens a window: the ended ones go
    assert storage.reset() == 1


def test_an_empty_limit_is_no_limit(service: ServiceFactory) -> None:
    with service(rate_limit_suggest="") as client:
        assert {client.get("/v1/suggest", params={"q": "a"}).status_code for _ in range(100)} == {200}


def test_without_trusted_proxies_x_forwarded_for_is_ignored(service: ServiceFactory) -> None:
    with service(rate_limit_suggest="2/minute") as client:
        statuses = [client.get("/v1/suggest", params={"q": "a"},
                               headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(4)]
        assert statuses == [200, 200, 429, 429]


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(service: ServiceFactory) -> None:
    with service(rate_limit_suggest="2/minute", trusted_proxies=["10.0.0.0/8", "192.0.2.10"]) as client:
        def suggest(peer: str, forwarded: str) -> int:
            return client.get("/v1/suggest", params={"q": "a"},
                              headers=from_peer(peer, **{"X-Forwarded-For": forwarded})).status_code

        # Through the proxies, each shopper is counted apart, whichever proxy carried the request.
        assert [suggest("10.1.2.3", "198.51.100.1"), suggest("192.0.2.10", "198.51.100.1"),
                suggest("10.9.9.9", "198.51.100.1")] == [200, 200, 429]
        assert suggest("10.1.2.3", "198.51.100.2") == 200
        # A chain: the first address from the right that is not a trusted proxy is the client.
        assert suggest("10.1.2.3", "203.0.113.50, 198.51.100.1") == 429
        # A peer that is not a proxy is itself, whatever it claims.
        assert [suggest("203.0.113.7", f"198.51.100.{i}") for i in range(10, 14)] == [200, 200, 429, 429]


def test_an_ipv6_client_is_counted_by_its_64_block(service: ServiceFactory) -> None:
    with service(rate_limit_suggest="2/minute") as client:
        def suggest(peer: str) -> int:
            return client.get("/v1/suggest", params={"q": "a"}, headers=from_peer(peer)).status_code

        assert [suggest("2001:db8:1:2::1"), suggest("2001:db8:1:2:ffff::7"), suggest("2001:db8:1:2::3")] == [
            200, 200, 429]
        assert suggest("2001:db8:1:3::1") == 200


def test_a_429_carries_the_cors_headers_the_widget_needs_to_read_it(service: ServiceFactory) -> None:
    shop = "https://shop.example"
    with service(rate_limit_suggest="1/minute", cors_origins=[shop]) as client:
        client.get("/v1/suggest", params={"q": "a"})
        refused = client.get("/v1/suggest", params={"q": "a"}, headers={"Origin": shop})
        assert refused.status_code == 429
        assert refused.headers["access-control-allow-origin"] == shop


def test_an_unreachable_limit_storage_lets_requests_through_and_is_logged(
        service: ServiceFactory, caplog: pytest.LogCaptureFixture) -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused at once.
    with service(rate_limit_suggest="1/minute", rate_limit_storage="redis://:secret@127.0.0.1:1/0") as client:
        with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
            statuses = [client.get("/v1/suggest", params={"q": "a"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.ratelimit"]
    assert len(warnings) == 1  # then not asked again for a while: the service does not wait on it
    assert "127.0.0.1:1/0 failed" in warnings[0] and "requests go unlimited" in warnings[0]
    assert "secret" not in warnings[0]


def test_an_unknown_limit_storage_fails_when_the_app_is_built(settings: Settings) -> None:
    with pytest.raises(Exception, match="unknown storage scheme"):
        create_app(settings.model_copy(update={"rate_limit_storage": "sqlite:///limits.db"}))


# -- request body size ------------------------------------------------------------------------

LIMIT = 2048


def exactly(size: int) -> bytes:
    """A valid search body of exactly `size` bytes (JSON allows the padding)."""
    body = '{"q": "送料はいくらですか"}'.encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_body_over_the_limit_with_a_content_length_is_a_413(service: ServiceFactory) -> None:
    with service(max_body_bytes=LIMIT) as client:
        headers = {"Content-Type": "application/json"}
        assert client.post("/v1/search", content=exactly(LIMIT), headers=headers).status_code == 200
        refused = client.post("/v1/search", content=exactly(LIMIT + 1), headers=headers)
        assert_error(refused, 413, "content_too_large", f"{LIMIT + 1} bytes", f"at most {LIMIT} bytes")
        # Any route: the limit is checked before routing.
        assert client.post("/v1/feedback", content=b"x" * (LIMIT + 1), headers=headers).status_code == 413


def test_a_chunked_body_over_the_limit_is_a_413(service: ServiceFactory) -> None:
    def chunks(body: bytes) -> Iterator[bytes]:
        yield from (body[i:i + 500] for i in range(0, len(body), 500))

    with service(max_body_bytes=LIMIT) as client:
        headers = {"Content-Type": "application/json"}
        allowed = client.post("/v1/search", content=chunks(exactly(LIMIT)), headers=headers)
        assert allowed.request.headers["transfer-encoding"] == "chunked"
        assert allowed.status_code == 200 and allowed.json()["query"] == "送料はいくらですか"
        refused = client.post("/v1/search", content=chunks(exactly(LIMIT + 1)), headers=headers)
        assert refused.request.headers["transfer-encoding"] == "chunked"
        assert_error(refused, 413, "content_too_large", f"at most {LIMIT} bytes")


def test_a_malformed_content_length_is_a_400(service: ServiceFactory) -> None:
    with service() as client:
        response = client.post("/v1/search", content=b"{}", headers={"Content-Length": "2x"})
        assert_error(response, 400, "bad_request", "Content-Length")


class Streamed:
    """A chunked request body arriving in `chunk`-byte messages, counting what has been read."""

    def __init__(self, size: int, chunk: int) -> None:
        self.chunks = [b"x" * min(chunk, size - i) for i in range(0, size, chunk)]
        self.read = 0

    async def receive(self) -> Message:
        if self.read == len(self.chunks):
            return {"type": "http.disconnect"}
        self.read += 1
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": self.read < len(self.chunks)}


def run_body_limit(body: Streamed, max_bytes: int) -> tuple[list[Message], list[Message]]:
    """The middleware over an app that reads the whole body: (what the app received, what was sent)."""
    received: list[Message] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            received.append(await receive())
            if not received[-1].get("more_body"):
                break
        received.append(await receive())  # then the client leaving
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": [(b"transfer-encoding", b"chunked")]}
    # A thread of its own: the browser tests' Playwright may hold a running loop in this one.
    runner = threading.Thread(target=lambda: asyncio.run(BodySizeLimitMiddleware(app, max_bytes)(scope, body.receive,
                                                                                                 send)))
    runner.start()
    runner.join()
    return received, sent


def test_a_chunked_body_is_read_no_further_than_the_limit() -> None:
    body = Streamed(size=100_000, chunk=1000)
    received, sent = run_body_limit(body, max_bytes=4096)
    assert body.read == 5  # 5000 bytes: the first chunk past 4096; the other 95 are never read
    assert received == []  # the app never ran
    assert sent[0]["status"] == 413


def test_a_chunked_body_within_the_limit_reaches_the_app_as_sent() -> None:
    body = Streamed(size=4096, chunk=1000)
    received, sent = run_body_limit(body, max_bytes=4096)
    assert [m.get("body") for m in received[:-1]] == body.chunks
    assert received[-1] == {"type": "http.disconnect"}
    assert sent[0]["status"] == 200


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fragment"), [
    ("30/sec", "no granularity matched for sec"),
    ("thirty per second", "is not a rate limit"),
    ("30/second;", "is not a rate limit"),
    ("0/minute", "refuses every request"),
])
def test_a_bad_rate_limit_is_a_settings_error_saying_how_to_write_one(settings: Settings, value: str,
                                                                      fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(index_path=settings.index_path, rate_limit_feedback=value)
    message = str(info.value)
    assert "rate_limit_feedback" in message and fragment in message
    assert "30/second" in message or "leave it empty" in message


def test_a_bad_rate_limit_in_the_environment_is_a_settings_error(settings: Settings,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURORA_RATE_LIMIT_SEARCH", "lots")
    with pytest.raises(ValidationError, match="rate_limit_search"):
        Settings()


@pytest.mark.parametrize("value", ["1000/hour;30/second", "5 per minute", "10/2 seconds", "", "  "])
def test_good_rate_limits_are_accepted(settings: Settings, value: str) -> None:
    assert Settings(rate_limit_search=value).rate_limit_search == value.strip()


def test_trusted_proxies_are_read_as_addresses_and_networks(settings: Settings,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURORA_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1,")
    assert Settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    monkeypatch.setenv("AURORA_TRUSTED_PROXIES", '["fd00::/8"]')
    assert Settings().trusted_proxies == ["fd00::/8"]


@pytest.mark.parametrize(("value", "fragment"), [
    ("10.0.0.1/8", "has host bits set"),
    ("proxy.internal", "not an IP address or network"),
    ("*,10.0.0.1", "stands alone"),
])
def test_a_bad_trusted_proxy_is_a_settings_error(settings: Settings, value: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Settings(trusted_proxies=value)


# -- the admin key ----------------------------------------------------------------------------


@contextmanager
def admin_app(settings: Settings, key: str | None) -> Iterator[TestClient]:
    """The service with one more route behind `require_admin`."""
    app = create_app(settings.model_copy(update={"admin_key": None if key is None else SecretStr(key)}))

    @app.get("/test-admin", dependencies=[Depends(require_admin)])
    def admin_only() -> dict[str, bool]:
        return {"admin": True}

    with TestClient(app) as client:
        yield client


def test_admin_routes_are_off_without_a_key(settings: Settings) -> None:
    with admin_app(settings, None) as client:
        response = client.get("/test-admin", headers={"Authorization": "Bearer anything"})
        assert_error(response, 403, "forbidden", "AURORA_ADMIN_KEY")
    with admin_app(settings, "") as client:
        assert client.get("/test-admin", headers={"Authorization": "Bearer "}).status_code == 403


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic c2VjcmV0", "secret", "Bearer secret2"])
def test_a_missing_or_wrong_admin_key_is_a_401(settings: Settings, authorization: str | None) -> None:
    with admin_app(settings, "secret") as client:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.get("/test-admin", headers=headers)
        assert_error(response, 401, "unauthorized", "Authorization: Bearer")
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("authorization", ["Bearer secret", "bearer secret", "Bearer  secret "])
def test_the_right_admin_key_is_let_in(settings: Settings, authorization: str) -> None:
    with admin_app(settings, "secret") as client:
        response = client.get("/test-admin", headers={"Authorization": authorization})
        assert response.status_code == 200 and response.json() == {"admin": True}
