"""Both modes fit a 390-px phone without sideways scrolling; screenshots of both, desktop and phone.

AURORA_UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/ (otherwise to the test's tmp dir).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import REPO, VIEWPORTS

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
expect = sync_api.expect

pytestmark = pytest.mark.browser

NO_SIDEWAYS = "() => document.documentElement.scrollWidth"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return REPO / "docs" / "screenshots" if os.environ.get("AURORA_UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_both_modes_fit_and_are_photographed(new_page: Any, shots: Path, device: str) -> None:
    viewport = VIEWPORTS[device]
    page = new_page(viewport=viewport, device_scale_factor=1)
    page.goto("/demo")
    faq = page.locator("#faq")
    box = page.get_by_role("combobox")
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type("返品や交換について知りたいです、サイズが合わなかった場合")
    box.press("Enter")
    expect(page.locator("#faq-search .result .card .q")).to_be_visible()
    box.fill("")
    page.keyboard.type("クーポ")
    expect(page.get_by_role("option").first).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS) <= viewport["width"], "search mode scrolls sideways"
    faq.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8)")
    page.screenshot(path=shots / f"search-{device}.png")

    page.get_by_role("button", name="チャットで質問").click()
    dialog = page.get_by_role("dialog")
    chat = dialog.get_by_role("textbox")
    for q in ("注文をキャンセルしたいです", "order"):
        chat.fill(q)
        chat.press("Enter")
    expect(dialog.locator(".card")).to_have_count(3)
    assert page.evaluate(NO_SIDEWAYS) <= viewport["width"], "chat mode scrolls sideways"
    frame = dialog.bounding_box()
    assert frame["x"] >= 0 and frame["x"] + frame["width"] <= viewport["width"]
    assert frame["y"] >= 0 and frame["y"] + frame["height"] <= viewport["height"]
    page.screenshot(path=shots / f"chat-{device}.png")
