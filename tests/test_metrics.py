"""app/metrics.py: request histograms by route template, the service's counters and gauges, and
the sums several worker processes give at one scrape."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from starlette.background import BackgroundTask

from app.__main__ import MULTIPROC_ENV, main, multiprocess_metrics
from app.main import create_app
from app.metrics import (
    UNMATCHED,
    install_metrics,
    observe_feedback,
    observe_reload,
    observe_search,
    set_index,
)
from app.settings import Settings
from aurora_faq.build import build_index
from aurora_faq.encoders import FakeEncoder
from tests.conftest import TINY_FAQ, write_jsonl
from tests.server import serve
from tests.services import wait_for

REQUESTS = "aurora_http_request_duration_seconds"

MeteredClient = Callable[..., AbstractContextManager[TestClient]]


def metered_app(settings: Settings) -> FastAPI:
    """The service over `settings`, its requests measured (by create_app, or here until it does)."""
    app = create_app(settings)
    if not any(getattr(route, "path", None) == "/metrics" for route in app.router.routes):
        install_metrics(app)
    return app


@pytest.fixture
def metered(settings: Settings) -> MeteredClient:
    """`with metered(**overrides) as client:` a client over the measured service."""

    @contextmanager
    def factory(**overrides: Any) -> Iterator[TestClient]:
        # Validated as the environment would be, as make_client does.
        with TestClient(metered_app(Settings(**{**settings.model_dump(), **overrides}))) as client:
            yield client

    return factory


def sample(name: str, **labels: str) -> float:
    """A sample of this process's registry; 0 for a series not there yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests(route: str, status: str, method: str = "GET") -> float:
    return sample(f"{REQUESTS}_count", route=route, method=method, status=status)


def test_requests_are_counted_under_their_route_template(metered: MeteredClient,
                                                         faq: dict[str, dict[str, Any]]) -> None:
    first, second = list(faq)[:2]
    routes = [("/v1/faq/{entry_id}", "2xx"), ("/v1/faq/{entry_id}", "4xx"), (UNMATCHED, "4xx"),
              ("/widget/{path}", "2xx"), ("/healthz", "2xx")]
    before = [requests(*r) for r in routes]
    sum_before = sample(f"{REQUESTS}_sum", route="/healthz", method="GET", status="2xx")
    with metered() as client:
        assert [client.get(path).status_code for path in (
            f"/v1/faq/{first}", f"/v1/faq/{second}", "/v1/faq/no-such-entry", "/no/such/page/77",
            "/widget/widget.js", "/healthz")] == [200, 200, 404, 404, 200, 200]
        scraped = client.get("/metrics").text
    assert [requests(*r) - b for r, b in zip(routes, before, strict=True)] == [2, 1, 1, 1, 1]
    assert sample(f"{REQUESTS}_sum", route="/healthz", method="GET", status="2xx") > sum_before
    # Series are named by template, never by the path asked for.
    for raw in (f"/v1/faq/{first}", f"/v1/faq/{second}", "/v1/faq/no-such-entry", "/no/such/page/77",
                "/widget/widget.js"):
        assert f'route="{raw}"' not in scraped
    routes_seen = set(re.findall(r'route="([^"]*)"', scraped))
    assert {"/v1/faq/{entry_id}", "/widget/{path}", UNMATCHED} <= routes_seen


def test_answers_given_before_routing_count_under_the_route_asked_for(metered: MeteredClient) -> None:
    before = requests("/v1/search", "4xx", "POST"), requests(UNMATCHED, "4xx", "POST")
    with metered(rate_limit_search="1/minute") as client:
        assert client.post("/v1/search", json={"q": "送料"}).status_code == 200
        assert client.post("/v1/search", json={"q": "送料"}).status_code == 429
    with metered(rate_limit_search="", max_body_bytes=1024) as client:
        assert client.post("/v1/search", content=b"{" + b" " * 2048 + b"}",
                           headers={"content-type": "application/json"}).status_code == 413
    after = requests("/v1/search", "4xx", "POST"), requests(UNMATCHED, "4xx", "POST")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 0)


def test_unknown_methods_share_one_label(metered: MeteredClient) -> None:
    before = requests("/healthz", "4xx", "other"), requests(UNMATCHED, "4xx", "other")
    with metered() as client:
        assert client.request("BREW", "/healthz").status_code == 405
        assert client.request("X-SCAN-1", "/healthz").status_code == 405
        assert client.request("BREW", "/coffee").status_code == 404
        scraped = client.get("/metrics").text
    after = requests("/healthz", "4xx", "other"), requests(UNMATCHED, "4xx", "other")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
    assert "BREW" not in scraped and "X-SCAN-1" not in scraped


def test_time_ends_with_the_last_byte_and_an_error_is_a_5xx() -> None:
    app = FastAPI()

    @app.get("/after/{n}")
    async def after(n: int) -> Response:
        # Work done once the response is sent (the search log's hand-off) is not the client's wait.
        return Response("ok", background=BackgroundTask(time.sleep, 0.3))

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    install_metrics(app)
    labels = {"route": "/after/{n}", "method": "GET", "status": "2xx"}
    count, total = sample(f"{REQUESTS}_count", **labels), sample(f"{REQUESTS}_sum", **labels)
    errors = requests("/broken", "5xx")
    with TestClient(app, raise_server_exceptions=False) as client:
        started = time.perf_counter()
        assert client.get("/after/1").text == "ok"
        assert time.perf_counter() - started >= 0.3
        assert client.get("/broken").status_code == 500
    assert sample(f"{REQUESTS}_count", **labels) - count == 1
    assert sample(f"{REQUESTS}_sum", **labels) - total < 0.2
    assert requests("/broken", "5xx") - errors == 1


def test_metrics_endpoint(metered: MeteredClient) -> None:
    with metered() as client:
        text = client.get("/metrics")
        open_metrics = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
        schema = client.get("/openapi.json").json()
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain; version=")
    for name in (REQUESTS, "aurora_searches_total", "aurora_feedback_total", "aurora_index_reload_duration_seconds",
                 "aurora_index_info", "aurora_index_entries", "aurora_index_vectors"):
        assert f"# HELP {name} " in text.text
    assert f"# TYPE {REQUESTS} histogram" in text.text
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    assert "/metrics" not in schema["paths"]


def test_observe_functions() -> None:
    searches, helpful, unhelpful = (sample("aurora_searches_total", decision="clarify", lang="en"),
                                    sample("aurora_feedback_total", helpful="true"),
                                    sample("aurora_feedback_total", helpful="false"))
    refused = sample("aurora_index_reload_duration_seconds_count", outcome="refused")
    refused_s = sample("aurora_index_reload_duration_seconds_sum", outcome="refused")
    buckets = [sample("aurora_index_reload_duration_seconds_bucket", outcome="refused", le=le) for le in ("1.0", "2.5")]
    observe_search("clarify", "en")
    observe_feedback(True)
    observe_feedback(False)
    observe_feedback(False)
    observe_reload("refused", 1.5)
    assert sample("aurora_searches_total", decision="clarify", lang="en") - searches == 1
    assert sample("aurora_feedback_total", helpful="true") - helpful == 1
    assert sample("aurora_feedback_total", helpful="false") - unhelpful == 2
    assert sample("aurora_index_reload_duration_seconds_count", outcome="refused") - refused == 1
    assert sample("aurora_index_reload_duration_seconds_sum", outcome="refused") - refused_s == pytest.approx(1.5)
    assert [sample("aurora_index_reload_duration_seconds_bucket", outcome="refused", le=le) - before
            for le, before in zip(("1.0", "2.5"), buckets, strict=True)] == [0, 1]


def test_set_index_leaves_only_the_served_version_at_1() -> None:
    set_index("test-v1", 3, 10)
    assert sample("aurora_index_info", version="test-v1") == 1
    assert (sample("aurora_index_entries"), sample("aurora_index_vectors")) == (3, 10)
    set_index("test-v2", 4, 12)
    set_index("test-v2", 4, 12)
    assert (sample("aurora_index_info", version="test-v1"), sample("aurora_index_info", version="test-v2")) == (0, 1)
    assert (sample("aurora_index_entries"), sample("aurora_index_vectors")) == (4, 12)
    set_index("test-v1", 3, 10)  # a rollback
    assert (sample("aurora_index_info", version="test-v1"), sample("aurora_index_info", version="test-v2")) == (1, 0)


def test_the_service_reports_its_index_searches_and_feedback(metered: MeteredClient) -> None:
    with metered(rate_limit_search="", rate_limit_feedback="") as client:
        ready = client.get("/readyz").json()
        assert sample("aurora_index_info", version=ready["version"]) == 1
        assert sample("aurora_index_entries") == ready["entries"]
        assert sample("aurora_index_vectors") >= ready["entries"]
        answer = client.get("/v1/search", params={"q": "送料はいくらですか"}).json()
        labels = {"decision": answer["decision"], "lang": answer["lang"]}
        searches, helpful = sample("aurora_searches_total", **labels), sample("aurora_feedback_total", helpful="true")
        answer = client.post("/v1/search", json={"q": "送料はいくらですか"}).json()
        assert sample("aurora_searches_total", **labels) - searches == 1
        assert client.post("/v1/feedback", json={"query_id": answer["query_id"], "helpful": True,
                                                 "answer_id": answer["results"][0]["id"]}).status_code == 201
        assert client.post("/v1/feedback", json={"answer_id": "no-such-entry", "helpful": True}).status_code == 404
        assert sample("aurora_feedback_total", helpful="true") - helpful == 1


def test_reloads_and_the_served_version(metered: MeteredClient, tiny_index_dir: Path, tmp_path: Path) -> None:
    served = tmp_path / "served" / "index"
    shutil.copytree(tiny_index_dir, served)
    admin = {"Authorization": "Bearer sesame"}
    ok, refused = (sample("aurora_index_reload_duration_seconds_count", outcome=o) for o in ("ok", "refused"))
    with metered(index_path=served, admin_key="sesame") as client:
        first = client.get("/readyz").json()["version"]
        extra = {"id": "gift-card", "category": "payment", "question": {"en": "Can I pay with a gift card?"},
                 "answer": {"en": "Yes, at checkout."}, "alternates": {"en": ["gift card payment"]}}
        build_index(write_jsonl(tmp_path / "faq.jsonl", [*TINY_FAQ, extra]), served, FakeEncoder(), cache_dir=None)
        assert client.post("/v1/admin/reload", headers=admin).status_code == 200
        second = client.get("/readyz").json()["version"]
        assert (sample("aurora_index_info", version=first), sample("aurora_index_info", version=second)) == (0, 1)
        assert sample("aurora_index_entries") == len(TINY_FAQ) + 1
        (served / "manifest.json").write_text("{")
        assert client.post("/v1/admin/reload", headers=admin).status_code == 409
        assert sample("aurora_index_info", version=second) == 1  # the refused index serves nothing
        assert client.post("/v1/admin/rollback", headers=admin).status_code == 200
        assert (sample("aurora_index_info", version=first), sample("aurora_index_info", version=second)) == (1, 0)
    assert sample("aurora_index_reload_duration_seconds_count", outcome="ok") - ok == 1
    assert sample("aurora_index_reload_duration_seconds_count", outcome="refused") - refused == 1


def test_multiprocess_dir_is_made_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_metrics():
        made = Path(os.environ[MULTIPROC_ENV])
        assert made.is_dir() and not any(made.iterdir())
        (made / "counter_1.db").write_bytes(b"x")
    assert MULTIPROC_ENV not in os.environ and not made.exists()


def test_an_operators_multiprocess_dir_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "histogram_77.db").write_bytes(b"x")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="app"), multiprocess_metrics():
        assert os.environ[MULTIPROC_ENV] == str(tmp_path)
    assert (tmp_path / "histogram_77.db").exists()
    assert any("earlier run" in r.getMessage() for r in caplog.records)


def test_workers_out_of_range_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--workers", "0"])
    assert exited.value.code == 2 and "workers" in capsys.readouterr().err


def request_lines(output: str, route: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "app.request" and line.get("route") == route]


def scrape(base: str, route: str) -> float:
    """The request count of `route` (2xx) at one scrape, over a new connection."""
    text = httpx.get(base + "/metrics", headers={"connection": "close"}).text
    pattern = rf'^{REQUESTS}_count{{method="GET",route="{re.escape(route)}",status="2xx"}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_two_workers_add_up_at_every_scrape(index_dir: Path, tmp_path: Path, faq: dict[str, dict[str, Any]]) -> None:
    route, entry = "/v1/faq/{entry_id}", next(iter(faq))
    # CLI settings only (the environment has no AURORA_*): they must reach the workers.
    with serve(index_dir, tmp_path, args=["--workers", "2", "--log-format", "json"]) as server:
        directory = Path(next(json.loads(line)["message"].split(" in ", 1)[1] for line in server.output().splitlines()
                              if "workers' metrics in" in line))
        url = f"{server.base}/v1/faq/{entry}"
        sent = 0
        with ThreadPoolExecutor(8) as pool:  # new connections side by side: both workers take some
            while len({line["pid"] for line in request_lines(server.output(), route)}) < 2:
                assert sent < 400, "one worker answered every request"
                codes = list(pool.map(lambda _: httpx.get(url, headers={"connection": "close"}).status_code,
                                      range(16)))
                assert codes == [200] * 16
                sent += 16
                wait_for(lambda n=sent: len(request_lines(server.output(), route)) == n, what="the request lines")
        by_worker = Counter(line["pid"] for line in request_lines(server.output(), route))
        assert len(by_worker) == 2 and sum(by_worker.values()) == sent

        # Whichever worker answers the scrape, it counts all of them.
        scrapers: set[int] = set()
        for _ in range(100):
            assert scrape(server.base, route) == sent
            scrapers = {line["pid"] for line in request_lines(server.output(), "/metrics")}
            if scrapers == set(by_worker):
                break
        assert scrapers == set(by_worker)
        ready = httpx.get(server.base + "/readyz").json()
        text = httpx.get(server.base + "/metrics").text
        assert f'aurora_index_info{{version="{ready["version"]}"}} 1.0' in text
        assert f"aurora_index_entries {float(ready['entries'])}" in text

        # A worker killed outright: its requests stay counted, its index gauges go once its
        # replacement has started.
        killed = min(by_worker)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: not list(directory.glob(f"gauge_live*_{killed}.db")), timeout_s=90,
                 what="the killed worker's gauges to be dropped")
        assert list(directory.glob(f"histogram_{killed}.db"))
        assert scrape(server.base, route) == sent
    assert not directory.exists()
