"""Changing the served index without a restart: POST /v1/admin/reload and /v1/admin/rollback."""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.serving import IndexRefused, gate_check
from aurora_faq.build import build_index
from aurora_faq.encoders import FakeEncoder
from tests.conftest import TINY_FAQ, ClientFactory, edit_manifest, write_jsonl
from tests.services import wait_for

ADMIN = {"Authorization": "Bearer sesame"}
GIFT_CARD = {"id": "gift-card", "category": "payment",
             "question": {"en": "Can I pay with a gift card?", "ja": "ギフトカードで支払えますか？"},
             "answer": {"en": "Yes, enter the gift card number at checkout.",
                        "ja": "はい、お支払い画面で番号を入力してください。"},
             "alternates": {"en": ["gift card payment", "use a gift certificate"], "ja": ["商品券", "ギフト券"]}}


def tiny_with_gift_card() -> list[dict[str, Any]]:
    return [*copy.deepcopy(TINY_FAQ), GIFT_CARD]


def build(faq: list[dict[str, Any]], out: Path) -> str:
    """Index `faq` into `out` the way aurora-build-index does (atomically); returns its version."""
    path = write_jsonl(out.parent / f"faq-{time.monotonic_ns()}.jsonl", faq)
    return str(build_index(path, out, FakeEncoder(), cache_dir=None)["faq_sha256"])[:12]


@pytest.fixture
def served_dir(tmp_path: Path, tiny_index_dir: Path) -> Path:
    """A copy of the tiny index, free to be rebuilt and broken."""
    out = tmp_path / "served" / "index"
    shutil.copytree(tiny_index_dir, out)
    return out


@pytest.fixture
def admin(make_client: ClientFactory, served_dir: Path) -> Iterator[TestClient]:
    with make_client(index_path=served_dir, admin_key="sesame") as client:
        yield client


def top(client: TestClient, q: str) -> str:
    response = client.get("/v1/search", params={"q": q})
    assert response.status_code == 200, response.text
    return str(response.json()["results"][0]["id"])


def test_reload_serves_the_rebuilt_index_and_rollback_the_previous_one(admin: TestClient, served_dir: Path) -> None:
    before = admin.get("/readyz").json()["version"]
    assert top(admin, "can I pay with a gift card") != "gift-card"
    version = build(tiny_with_gift_card(), served_dir)

    response = admin.post("/v1/admin/reload", headers=ADMIN)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["action"], report["version"], report["previous_version"]) == ("reload", version, before)
    assert report["entries"] == len(TINY_FAQ) + 1
    assert admin.get("/readyz").json()["version"] == version
    assert top(admin, "can I pay with a gift card") == "gift-card"
    assert admin.get("/v1/faq/gift-card").status_code == 200
    assert [s["id"] for s in admin.get("/v1/suggest", params={"q": "ギフトカ"}).json()["suggestions"]][:1] == \
        ["gift-card"]

    response = admin.post("/v1/admin/rollback", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert (response.json()["version"], response.json()["previous_version"]) == (before, version)
    assert top(admin, "can I pay with a gift card") != "gift-card"
    assert admin.get("/v1/faq/gift-card").status_code == 404


def test_no_answer_cached_from_the_old_index_is_served_after_a_reload(admin: TestClient, served_dir: Path) -> None:
    question = {"q": "when will my package arrive", "k": 1}
    first = admin.get("/v1/search", params=question).json()["results"][0]
    assert admin.get("/v1/search", params=question).json()["results"][0] == first  # now in the cache
    faq = copy.deepcopy(TINY_FAQ)
    faq[1]["answer"]["en"] = "Orders now arrive the next day."
    build(faq, served_dir)
    assert admin.post("/v1/admin/reload", headers=ADMIN).status_code == 200
    assert admin.get("/v1/search", params=question).json()["results"][0]["answer"] == "Orders now arrive the next day."


@pytest.mark.parametrize("breakage, message", [
    ("manifest", "has format -1"),
    ("encoder", "built with"),
    ("vectors", "corrupt"),
    ("missing", "no index"),
])
def test_a_broken_index_is_refused_and_the_old_one_keeps_serving(admin: TestClient, served_dir: Path,
                                                                  breakage: str, message: str) -> None:
    version = admin.get("/readyz").json()["version"]
    if breakage == "manifest":
        edit_manifest(served_dir, format=-1)
    elif breakage == "encoder":
        edit_manifest(served_dir, encoder="e5")
    elif breakage == "vectors":
        for vectors in served_dir.glob("*.npy"):
            vectors.write_bytes(b"not numpy")
    else:
        shutil.rmtree(served_dir)
    response = admin.post("/v1/admin/reload", headers=ADMIN)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"
    assert message in response.json()["error"]["message"]
    assert admin.get("/readyz").json()["version"] == version
    assert top(admin, "how do I cancel my order") == "cancel-order"


def test_an_index_that_does_not_find_its_own_entries_is_refused(admin: TestClient, served_dir: Path) -> None:
    build(copy.deepcopy(TINY_FAQ), served_dir)
    # Entries shifted by one against their vectors: the index loads, but answers with the wrong entry.
    rows = (served_dir / "entries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (served_dir / "entries.jsonl").write_text("".join(rows[1:] + rows[:1]), encoding="utf-8")
    response = admin.post("/v1/admin/rollback", headers=ADMIN)
    assert response.status_code == 409 and "nothing to roll back to" in response.json()["error"]["message"]
    response = admin.post("/v1/admin/reload", headers=ADMIN)
    assert response.status_code == 409, response.text
    assert "smoke queries: only" in response.json()["error"]["message"]
    assert top(admin, "how do I cancel my order") == "cancel-order"


def test_the_evaluation_gate_refuses_an_index_that_answers_worse(make_client: ClientFactory, served_dir: Path,
                                                                tmp_path: Path) -> None:
    gate = write_jsonl(tmp_path / "gate.jsonl", [
        {"id": "1", "query": "cancel my order please", "lang": "en", "relevant": ["cancel-order"]},
        {"id": "2", "query": "coupon code not accepted", "lang": "en", "relevant": ["coupon-how-to"]},
        {"id": "3", "query": "how long is delivery", "lang": "en", "relevant": ["delivery-time"]},
        {"id": "4", "query": "return policy for items", "lang": "en", "relevant": ["returns"]},
        {"id": "5", "query": "what is the capital of peru", "lang": "en", "relevant": []},
    ])
    with make_client(index_path=served_dir, admin_key="sesame", gate_queries=gate) as client:
        version = client.get("/readyz").json()["version"]
        build([e for e in TINY_FAQ if e["id"] not in {"coupon-how-to", "returns"}], served_dir)
        response = client.post("/v1/admin/reload", headers=ADMIN)
        assert response.status_code == 409, response.text
        message = response.json()["error"]["message"]
        assert "evaluation gate: top1 0.500 < serving 1.000 - margin 0.020" in message
        assert client.get("/readyz").json()["version"] == version

        build(tiny_with_gift_card(), served_dir)  # answers the gate's questions as well
        response = client.post("/v1/admin/reload", headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["gate"] == {"new": {"top1": 1.0, "refused": 1.0},
                                           "serving": {"top1": 1.0, "refused": 1.0}, "margin": 0.02}


def test_gate_check_names_each_figure_that_fell() -> None:
    gate_check({"top1": 0.95, "refused": 0.90}, {"top1": 0.96, "refused": 0.91}, 0.02)  # within the margin
    with pytest.raises(IndexRefused, match=r"top1 0\.900 < serving 0\.960.*refused 0\.800 < serving 0\.910"):
        gate_check({"top1": 0.90, "refused": 0.80}, {"top1": 0.96, "refused": 0.91}, 0.02)


@pytest.mark.parametrize("key, headers, status", [
    (None, ADMIN, 403),
    ("sesame", {}, 401),
    ("sesame", {"Authorization": "Bearer open-sesame"}, 401),
    ("sesame", {"Authorization": "Basic sesame"}, 401),
])
def test_admin_routes_need_the_key(make_client: ClientFactory, key: str | None, headers: dict[str, str],
                                   status: int) -> None:
    with make_client(admin_key=key) as client:
        for path in ("/v1/admin/reload", "/v1/admin/rollback"):
            response = client.post(path, headers=headers)
            assert response.status_code == status, response.text
            assert "AURORA_ADMIN_KEY" in response.json()["error"]["message"]


def test_a_reload_reaches_the_other_processes_on_the_database(make_client: ClientFactory, served_dir: Path,
                                                             tmp_path: Path) -> None:
    shared = {"index_path": served_dir, "admin_key": "sesame", "data_dir": tmp_path / "shared",
              "reload_poll_seconds": 0.05}
    with make_client(**shared) as one, make_client(**shared) as two:
        before = two.get("/readyz").json()["version"]
        version = build(tiny_with_gift_card(), served_dir)
        assert one.post("/v1/admin/reload", headers=ADMIN).status_code == 200
        wait_for(lambda: two.get("/readyz").json()["version"] == version, 5, "the other app's reload")
        assert top(two, "can I pay with a gift card") == "gift-card"
        assert one.post("/v1/admin/rollback", headers=ADMIN).status_code == 200
        wait_for(lambda: two.get("/readyz").json()["version"] == before, 5, "the other app's rollback")
        assert one.get("/readyz").json()["version"] == before

