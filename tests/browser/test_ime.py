"""Japanese IME, through Chromium's own IME input (CDP Input.imeSetComposition / insertText)."""

from __future__ import annotations

from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ENTER, ESCAPE, DOWN = ("Enter", 13), ("Escape", 27), ("ArrowDown", 40)
IME_KEY = 229  # keyCode while the IME has the key; Safari sends it for the confirming Enter too


def test_a_composed_japanese_question_fires_nothing_until_committed(widget: Any, watch: Any) -> None:
    widget.box.click()
    ime = widget.ime()
    ime.compose("く", "くー", "くーぽ", "くーぽん", "クーポン", "クーポンの", "クーポンのつかいかた",
                "クーポンの使い方")
    widget.page.wait_for_timeout(300)  # well past the 120-ms debounce
    assert watch.count("/v1/suggest") == 0 and watch.count("/v1/search") == 0
    expect(widget.listbox).to_be_hidden()
    ime.commit("クーポンの使い方")
    expect(widget.options.first).to_be_visible()
    assert watch.queries("/v1/suggest") == ["クーポンの使い方"]
    widget.box.press("Enter")
    expect(widget.card.locator(".q")).to_be_visible()
    expect(widget.card).to_contain_text("クーポン")
    assert watch.queries("/v1/search") == ["クーポンの使い方"]


def test_keys_during_composition_submit_close_and_move_nothing(widget: Any, watch: Any) -> None:
    widget.box.click()
    ime = widget.ime()
    ime.compose("くーぽ")
    ime.commit("クーポ")
    expect(widget.options.first).to_be_visible()
    suggests = watch.count("/v1/suggest")
    ime.compose("ん")  # composing again, the list open
    for key, code in (DOWN, ENTER, ESCAPE):
        ime.key(key, code)  # isComposing is true: the IME's keys
        ime.key(key, IME_KEY)
    widget.page.wait_for_timeout(200)
    expect(widget.listbox).to_be_visible()
    assert widget.box.get_attribute("aria-activedescendant") is None
    ime.commit("ン")
    # Safari: compositionend first, then the confirming keydown as 229 with isComposing false.
    ime.key(ENTER[0], IME_KEY)
    widget.page.wait_for_timeout(200)
    assert watch.count("/v1/search") == 0
    expect(widget.card).to_have_count(0)
    assert watch.queries("/v1/suggest")[suggests:] == ["クーポン"]
    widget.box.press("Enter")  # a real Enter, composition over
    expect(widget.card.locator(".q")).to_be_visible()
    assert watch.queries("/v1/search") == ["クーポン"]


def test_latin_composition_keeps_suggesting(widget: Any, watch: Any) -> None:
    """Android keyboards compose Latin words too: plain ASCII compositions keep the suggestions coming."""
    widget.box.click()
    ime = widget.ime()
    ime.compose("c", "co", "cou", "coup")
    expect(widget.options.first).to_be_visible()
    asked = watch.queries("/v1/suggest")
    assert asked[-1] == "coup" and all(len(q) >= 3 for q in asked), asked  # "c", "co": maybe romaji
    ime.commit("coupon")
    expect(widget.listbox).to_be_visible()
    widget.page.wait_for_timeout(200)
    assert watch.queries("/v1/suggest")[-1] == "coupon"


def test_chat_enter_and_escape_during_composition_neither_send_nor_close(widget: Any, watch: Any) -> None:
    widget.launcher().click()
    chat = widget.chat_input()
    expect(chat).to_be_focused()
    ime = widget.ime()
    ime.compose("へんぴん")
    ime.key(*ENTER)
    ime.key(ENTER[0], IME_KEY)
    ime.key(*ESCAPE)
    ime.key(ESCAPE[0], IME_KEY)
    ime.commit("返品")
    ime.key(ENTER[0], IME_KEY)  # Safari's order
    widget.page.wait_for_timeout(200)
    expect(widget.dialog).to_be_visible()
    assert watch.count("/v1/search") == 0
    expect(chat).to_have_value("返品")
    chat.press("Enter")
    expect(widget.log.locator(".me")).to_have_text(["返品"])
    expect(widget.log.locator(".card .q")).to_have_count(1)
    chat.press("Escape")
    expect(widget.dialog).to_be_hidden()
