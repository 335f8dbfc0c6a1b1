"""Scale-out: two server processes on one PostgreSQL database and one Redis, on loopback.

Feedback posted to both all lands in the database, analytics on either see both, a reload made
on one reaches the other, and a rate limit of N lets N requests through across the two.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.server import Server, serve
from tests.services import wait_for
from tests.test_reload import ADMIN, build, tiny_with_gift_card

SUGGEST_LIMIT = 12


def test_two_replicas_share_one_database_and_one_limit_store(tmp_path: Path, tiny_index_dir: Path,
                                                              fresh_postgres_url: str, redis_url: str) -> None:
    served = tmp_path / "served" / "index"
    shutil.copytree(tiny_index_dir, served)
    env = {"AURORA_DATABASE_URL": fresh_postgres_url, "AURORA_RATE_LIMIT_STORAGE": redis_url,
           "AURORA_ADMIN_KEY": "sesame", "AURORA_RELOAD_POLL_SECONDS": "0.2",
           "AURORA_RATE_LIMIT_SEARCH": "", "AURORA_RATE_LIMIT_FEEDBACK": "",
           "AURORA_RATE_LIMIT_SUGGEST": f"{SUGGEST_LIMIT}/minute"}
    with ExitStack() as stack:
        replicas: list[Server] = [stack.enter_context(serve(served, tmp_path / name, env=env)) for name in "ab"]
        assert replicas[0].process.pid != replicas[1].process.pid

        # Feedback on searches made on either, posted to either: every one is stored.
        posted = []
        for i in range(10):
            asked, told = replicas[i % 2], replicas[(i // 2) % 2]
            search = httpx.get(asked.base + "/v1/search", params={"q": "how do I cancel my order"}).json()
            r = httpx.post(told.base + "/v1/feedback", json={"query_id": search["query_id"], "helpful": i % 3 != 0,
                                                              "answer_id": search["results"][0]["id"]})
            assert r.status_code == 201, r.text
            posted.append(r.json()["id"])
        for replica in replicas:
            exported = httpx.get(replica.base + "/v1/admin/feedback", params={"limit": 100}, headers=ADMIN).json()
            assert sorted(item["id"] for item in exported["items"]) == sorted(posted)

        # Analytics on either count the searches both answered.
        for replica in replicas:
            analytics = httpx.get(replica.base + "/v1/admin/analytics", params={"days": 1}, headers=ADMIN,
                                  timeout=60).json()
            assert sum(rates["searches"] for rates in analytics["totals"]) == 10

        # A limit of N suggestions a minute lets N through, whichever replica is asked.
        statuses = [httpx.get(replicas[i % 2].base + "/v1/suggest", params={"q": "cancel"}).status_code
                    for i in range(2 * SUGGEST_LIMIT)]
        assert statuses.count(200) == SUGGEST_LIMIT and statuses.count(429) == SUGGEST_LIMIT

        # A reload made on one is repeated by the other.
        version = build(tiny_with_gift_card(), served)
        assert httpx.post(replicas[0].base + "/v1/admin/reload", headers=ADMIN, timeout=60).status_code == 200
        wait_for(lambda: httpx.get(replicas[1].base + "/readyz").json()["version"] == version, 10,
                 "the other replica's reload")
        top = httpx.get(replicas[1].base + "/v1/search", params={"q": "can I pay with a gift card"}).json()
        assert top["results"][0]["id"] == "gift-card"
