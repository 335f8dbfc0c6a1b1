"""Embedding: one tag on another origin, the JS API, style isolation, answers as text only."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
expect = sync_api.expect

pytestmark = pytest.mark.browser

SHOP = "http://shop.example.test"
XSS = "<img src=x onerror=\"window.__xss='img'\"><script>window.__xss='script'</script>"

SHOP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/shop.css"></head><body>
<main><h1>Another shop</h1><div class="card" id="host-card">host card</div>
<div id="faq"></div><div id="api-mounted"></div>
<script src="{api}/widget.js" data-mode="both" data-lang="en" data-target="#faq" async></script>
<script src="/shop.js" defer></script></main></body></html>"""
# Host rules that would restyle an unprotected widget, and widget class names used by the host.
SHOP_CSS = """button, input { text-transform: uppercase; font-family: monospace; }
.card { border: 5px dashed red; } [role=option] { display: none; } * { color: rgb(0, 128, 0); }"""
SHOP_JS = """window.addEventListener('load', () => {
  const el = document.getElementById('api-mounted');
  window.__mounted = AuroraFAQ.mount(el, {mode: 'search', lang: 'ja'});
});"""


def serve_shop(page: Any, base_url: str) -> None:
    """A shop on another origin, whose CSP allows scripts and requests to the API's origin only."""
    csp = (f"default-src 'self'; script-src 'self' {base_url}; style-src 'self'; connect-src {base_url}; "
           "img-src 'self' data:")
    files = {"/": ("text/html", SHOP_PAGE.format(api=base_url)), "/shop.css": ("text/css", SHOP_CSS),
             "/shop.js": ("text/javascript", SHOP_JS)}

    def handle(route: Any) -> None:
        kind, body = files[urlsplit(route.request.url).path]
        route.fulfill(status=200, content_type=kind, body=body, headers={"Content-Security-Policy": csp})

    page.route(f"{SHOP}/**", handle)

    def cors(route: Any) -> None:
        # The widget's own concern is where it sends requests; the service's CORS policy is
        # app/web.py's. Added here only when the service sends none, so the page can read answers.
        response = route.fetch()
        headers = dict(response.headers)
        headers.setdefault("access-control-allow-origin", SHOP)
        route.fulfill(response=response, headers=headers)

    page.route(f"{base_url}/**", cors)


def test_one_tag_on_another_origin_talks_to_the_scripts_origin(new_page: Any, base_url: str, watch: Any) -> None:
    page = new_page()
    serve_shop(page, base_url)
    page.goto(f"{SHOP}/")
    box = page.locator("#faq").get_by_role("combobox", name="Search our FAQ")
    box.click()
    page.keyboard.type("coupon")
    expect(page.locator("#faq").get_by_role("option").first).to_be_visible()
    box.press("Enter")
    expect(page.locator("#faq .card .q")).to_be_visible()
    assert watch.requests and all(u.startswith(f"{base_url}/v1/") for u in watch.requests), watch.requests
    page.get_by_role("button", name="Ask us").click()  # chat.js imported from the API's origin
    expect(page.get_by_role("dialog")).to_be_visible()
    # The host's CSS does not reach in ...
    launcher_style = page.locator("#faq .card").first.evaluate(
        "e => [getComputedStyle(e).borderTopWidth, getComputedStyle(e).color]")
    assert launcher_style != ["5px", "rgb(0, 128, 0)"]
    assert page.get_by_role("dialog").get_by_role("button", name="Send").evaluate(
        "e => getComputedStyle(e).textTransform") == "none"
    # ... and the widget's does not leak out.
    assert page.locator("#host-card").evaluate("e => getComputedStyle(e).borderTopWidth") == "5px"
    page.keyboard.press("Escape")
    # AuroraFAQ.mount: a second, Japanese search box from the page's own script.
    mounted = page.locator("#api-mounted").get_by_role("combobox", name="よくある質問を検索")
    expect(mounted).to_be_visible()
    mounted.fill("返品")
    mounted.press("Enter")
    expect(page.locator("#api-mounted .card .q")).to_be_visible()
    page.evaluate("window.__mounted.destroy()")
    expect(mounted).to_have_count(0)


def test_markup_in_queries_and_answers_is_shown_as_text(new_page: Any, api: Any) -> None:
    # bypass_csp: the demo's CSP would stop an injected inline handler even if the widget let it
    # into the DOM; without it, only the widget's own rendering stands between the data and the page.
    page = new_page(bypass_csp=True)
    page.goto("/demo")
    box = page.get_by_role("combobox")
    # A shopper's query with markup, answered by the real service (no_answer: the query is echoed).
    box.fill(XSS)
    box.press("Enter")
    card = page.locator("#faq-search .result .card")
    expect(card).to_contain_text(XSS)

    # An answer with markup, a javascript: URL and links, as a compromised FAQ would send it.
    real = api.get("/v1/search", params={"q": "How can I pay?", "k": 3}).json()
    hit = real["results"][0] | {
        "question": f"Q {XSS}",
        "answer": f"line one {XSS}\njavascript:alert(1) and https://example.com/help?a=1&b=<b>x</b>.\n"
                  "call <a href=\"javascript:alert(2)\">here</a>",
        "url": "javascript:alert(3)",
    }
    body = json.dumps(real | {"decision": "answer", "results": [hit]})
    page.route("**/v1/search?*", lambda route: route.fulfill(content_type="application/json", body=body))
    suggestion = {"id": hit["id"], "question": XSS, "lang": "en", "category": "x"}
    suggested = json.dumps({"query": "x", "lang": "en", "suggestions": [suggestion]})
    page.route("**/v1/suggest?*", lambda route: route.fulfill(content_type="application/json", body=suggested))
    box.fill("")
    page.keyboard.type("payment")
    option = page.get_by_role("option").first
    expect(option).to_have_text(XSS)
    box.press("Escape")
    box.press("Enter")
    expect(card.locator(".q")).to_have_text(f"Q {XSS}")
    assert card.locator(".a").inner_text() == hit["answer"]
    links = card.locator("a").evaluate_all("as => as.map(a => [a.getAttribute('href'), a.rel, a.target])")
    assert links == [["https://example.com/help?a=1&b=", "noopener noreferrer", "_blank"]]
    assert card.locator("br").count() == 2

    page.get_by_role("button", name="チャットで質問").click()
    page.get_by_role("dialog").get_by_role("textbox").fill(XSS)
    page.get_by_role("dialog").get_by_role("textbox").press("Enter")
    expect(page.get_by_role("log").locator(".me")).to_have_text([XSS])
    expect(page.get_by_role("log").locator(".card .q")).to_have_text([f"Q {XSS}"])

    assert page.evaluate("window.__xss") is None
    assert page.locator("#faq-search img, #faq-search script, #faq-search b").count() == 0
