"""A real server keeps answering, without one failed request, while its index is rebuilt in
place and reloaded twice; answers switch to the new FAQ at each reload."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import TINY_FAQ
from tests.server import serve
from tests.test_reload import ADMIN, build, tiny_with_gift_card

CLIENTS = 4
QUESTION = {"q": "can I pay with a gift card", "k": 1}


def test_reload_under_load(tmp_path: Path, tiny_index_dir: Path) -> None:
    served = tmp_path / "served" / "index"
    shutil.copytree(tiny_index_dir, served)
    env = {"AURORA_ADMIN_KEY": "sesame", "AURORA_RATE_LIMIT_SEARCH": "", "AURORA_LOG_LEVEL": "warning"}
    with serve(served, tmp_path, env=env) as server:
        old = httpx.get(server.base + "/readyz").json()["version"]
        seen: list[tuple[float, int, str | None, str | None]] = []  # (started, status, version, top id)
        stop = threading.Event()

        def shopper() -> None:
            with httpx.Client(base_url=server.base, timeout=30) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        response = client.get("/v1/search", params=QUESTION)
                    except httpx.HTTPError as e:
                        seen.append((started, 0, type(e).__name__, None))
                        continue
                    body = response.json() if response.status_code == 200 else {}
                    top = body["results"][0]["id"] if body.get("results") else None
                    seen.append((started, response.status_code, body.get("index", {}).get("version"), top))

        threads = [threading.Thread(target=shopper) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            swaps = []
            for faq in (tiny_with_gift_card(), list(TINY_FAQ)):
                time.sleep(0.3)
                version = build(faq, served)  # rebuilt in the served path while searches run
                asked = time.monotonic()
                response = httpx.post(server.base + "/v1/admin/reload", headers=ADMIN, timeout=60)
                assert response.status_code == 200, response.text
                swaps.append((asked, time.monotonic(), version))
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    assert len(seen) > 100
    assert [s for s in seen if s[1] != 200] == []
    (_, first_done, new), (second_asked, second_done, back) = swaps
    assert back == old != new
    # Every search that started after a reload had answered is answered from the new index.
    assert {(v, top) for started, _, v, top in seen if first_done < started < second_asked} == {(new, "gift-card")}
    assert {v for started, _, v, _ in seen if started > second_done} == {old}
    assert {v for started, _, v, _ in seen} == {old, new}
