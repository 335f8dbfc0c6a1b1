"""axe-core finds no serious or critical violation; the demo's strict CSP blocks nothing the widget does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
expect = sync_api.expect

pytestmark = pytest.mark.browser

STRICT_CSP = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"]


def axe_violations(page: Any, axe: Path) -> list[str]:
    """Serious and critical axe-core violations of the whole page (open shadow roots included)."""
    page.add_script_tag(path=str(axe))
    found = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map(n => JSON.stringify(n.target)).join(', ')}`);
    }""")
    return list(found)


def test_axe_finds_nothing_serious_in_either_mode(new_page: Any, axe: Path) -> None:
    # bypass_csp: axe is injected as a script the demo's CSP would refuse.
    page = new_page(bypass_csp=True)
    page.goto("/demo")
    box = page.get_by_role("combobox")
    box.click()
    page.keyboard.type("クーポン")
    expect(page.get_by_role("option").first).to_be_visible()
    box.press("ArrowDown")
    assert axe_violations(page, axe) == [], "search box with its listbox open"

    box.press("Escape")
    box.press("Enter")
    expect(page.locator("#faq-search .result .card")).to_be_visible()
    page.get_by_role("button", name="チャットで質問").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("textbox").fill("order")  # a reply in English inside the Japanese page
    dialog.get_by_role("textbox").press("Enter")
    expect(dialog.locator(".card")).to_have_count(2)  # the greeting and the reply
    assert axe_violations(page, axe) == [], "chat dialog open with a reply"


def test_the_demo_works_under_its_strict_csp(new_page: Any, base_url: str, watch: Any) -> None:
    """No bypass here: every CSP violation is logged as a console error and fails the test."""
    csp = httpx.get(f"{base_url}/demo").headers.get("content-security-policy", "")
    assert all(d in csp for d in STRICT_CSP), f"/demo is served with CSP {csp!r}"
    page = new_page()
    page.goto("/demo")
    page.evaluate("() => { window.__csp = []; document.addEventListener('securitypolicyviolation', "
                  "e => window.__csp.push(e.violatedDirective), true); }")
    box = page.get_by_role("combobox")
    box.click()
    page.keyboard.type("クーポ")
    expect(page.get_by_role("option").first).to_be_visible()
    box.press("ArrowDown")
    box.press("Enter")
    card = page.locator("#faq-search .result .card")
    expect(card).to_be_visible()
    # Styled by the constructed stylesheet: a blocked <style> would leave the card without its border.
    assert card.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    page.get_by_role("button", name="チャットで質問").click()  # imports chat.js
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("e => getComputedStyle(e).position") == "fixed"
    dialog.get_by_role("textbox").fill("支払い方法")
    dialog.get_by_role("textbox").press("Enter")
    expect(dialog.locator(".card .q")).to_have_count(1)
    assert page.evaluate("window.__csp") == []
    assert not watch.unexpected()
