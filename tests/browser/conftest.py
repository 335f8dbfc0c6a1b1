"""The storefront widget in Debian's Chromium, through Playwright, against the real service.

One service (`python -m app` over the real index, built once into .cache/widget-index when
`index/` is missing or stale) and one browser serve the whole session; every test gets a fresh
context and page whose console errors, page errors and CSP violations fail it at teardown.

AURORA_BROWSER_BASE_URL=http://127.0.0.1:8000 runs the suite against a service already running.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.browser.support import REPO, VIEWPORTS, chromium_missing, launch_chromium, service

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"

# Reported by the page when a CSP blocks something (the event never reaches the console by itself).
_CSP_LISTENER = """document.addEventListener('securitypolicyviolation', e =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`), true);"""


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service's base URL; it serves the widget's files and the demo page too."""
    missing = chromium_missing()
    if missing:
        pytest.skip(f"browser tests need Debian's Chromium, Playwright and axe-core: {missing}")
    given = os.environ.get("AURORA_BROWSER_BASE_URL")
    if given:
        yield given.rstrip("/")
        return
    with service(tmp_path_factory.mktemp("widget-service")) as url:
        for path in ("/widget.js", "/widget/chat.js", "/demo"):
            status = httpx.get(url + path).status_code
            assert status == 200, f"the service answers {status} for {path}: app/web.py must serve app/static"
        yield url


@pytest.fixture(scope="session")
def axe() -> Path:
    """axe-core's browser build, from npm (package.json)."""
    return AXE


@pytest.fixture(scope="session")
def browser(base_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@dataclass
class Watch:
    """What one page did: console errors and page errors (fail the test), requests to the API."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location})")

    def request(self, request: Any) -> None:
        if "/v1/" in request.url:
            self.requests.append(request.url)

    def allow(self, pattern: str) -> None:
        """Accept console errors matching `pattern`: Chromium logs every failed response itself."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def count(self, route: str) -> int:
        """API requests made so far to `route` (e.g. "/v1/suggest")."""
        return sum(1 for u in self.requests if urlsplit(u).path == route)

    def queries(self, route: str) -> list[str]:
        """The `q` of each request to `route`, in order."""
        return [parse_qs(urlsplit(u).query).get("q", [""])[0] for u in self.requests if urlsplit(u).path == route]


@pytest.fixture
def watch() -> Watch:
    w = Watch()
    # The contract: a service without /v1/capabilities (404) offers no feedback. The widget
    # handles it; Chromium still logs the failed response.
    w.allow(r"status of 404 .*/v1/capabilities")
    return w


NewPage = Callable[..., Any]


@pytest.fixture
def new_page(browser: Any, base_url: str, watch: Watch) -> Iterator[NewPage]:
    """`new_page(viewport=VIEWPORTS["phone"], bypass_csp=True, ...)`: a watched page of a fresh context."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = VIEWPORTS["desktop"], **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, base_url=base_url, **options)
        contexts.append(context)
        context.add_init_script(script=_CSP_LISTENER)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", watch.console)
        page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
        page.on("request", watch.request)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not watch.unexpected(), "the page reported errors:\n" + "\n".join(watch.unexpected())


@pytest.fixture
def page(new_page: NewPage) -> Any:
    """The demo page (Japanese, desktop) with its strict CSP."""
    p = new_page()
    p.goto("/demo")
    return p


# The element that has focus, looked for through shadow roots.
_DEEP_FOCUS = """() => { let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement; return a; }"""


class Ime:
    """Chromium's own IME input over CDP: what a Japanese IME does to the focused field."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)

    def compose(self, *steps: str) -> None:
        """Show each text as the composition in turn (e.g. "く", "くー", "くーぽ")."""
        for text in steps:
            caret = len(text)
            self.cdp.send("Input.imeSetComposition", {"text": text, "selectionStart": caret, "selectionEnd": caret})

    def commit(self, text: str) -> None:
        """Confirm the composition as `text` (compositionend)."""
        self.cdp.send("Input.insertText", {"text": text})

    def key(self, key: str, key_code: int) -> None:
        """A real key press with this `keyCode` (229: the IME has the key)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.cdp.send("Input.dispatchKeyEvent",
                          {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": key_code})


class Widget:
    """The demo page's widget: its parts, by role, through the shadow root."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.box = page.get_by_role("combobox")
        self.listbox = page.get_by_role("listbox")
        self.options = page.get_by_role("option")
        self.card = page.locator("#faq-search .result .card")
        self.busy = page.locator("#faq-search .search > p.card")
        self.dialog = page.get_by_role("dialog")
        self.log = page.get_by_role("log")

    def launcher(self, name: str = "チャットで質問") -> Any:
        return self.page.get_by_role("button", name=name)

    def chat_input(self) -> Any:
        return self.dialog.get_by_role("textbox")

    def focused(self, js_test: str = "a => a") -> Any:
        """`js_test` applied to the element that has focus (through shadow roots)."""
        return self.page.evaluate(f"() => ({js_test})(({_DEEP_FOCUS})())")

    def tab_to(self, js_test: str, limit: int = 20) -> None:
        """Press Tab until `js_test(focused element)` is true."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            if self.focused(js_test):
                return
        raise AssertionError(f"Tab never reached an element where {js_test}")

    def ime(self) -> Ime:
        return Ime(self.page)

    def ask(self, text: str) -> None:
        """Type `text` in the search box and press Enter."""
        self.box.click()
        self.box.fill(text)
        self.box.press("Enter")


@pytest.fixture
def widget(page: Any) -> Widget:
    return Widget(page)


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    """A plain client of the same service, to learn what the widget should show."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client
