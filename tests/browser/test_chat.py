"""The chat: launcher, dialog, focus trap, answers, clarify, feedback, reload."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
expect = sync_api.expect

pytestmark = pytest.mark.browser

IN_DIALOG = "a => !!a.closest('[role=dialog]')"


def test_keyboard_only_chat(widget: Any, api: httpx.Client) -> None:
    launcher = widget.launcher()
    expect(launcher).to_have_attribute("aria-haspopup", "dialog")
    widget.tab_to("a => a.getAttribute('aria-haspopup') === 'dialog'")
    widget.page.keyboard.press("Enter")
    expect(widget.dialog).to_be_visible()
    expect(widget.chat_input()).to_be_focused()
    widget.page.keyboard.type("How can I pay?")
    widget.page.keyboard.press("Enter")
    expected = api.get("/v1/search", params={"q": "How can I pay?", "k": 3}).json()["results"][0]
    expect(widget.log.locator(".me")).to_have_text(["How can I pay?"])
    expect(widget.log.locator(".card .q")).to_have_text([expected["question"]])
    # The focus trap: Tab and Shift+Tab go round inside the dialog.
    seen = set()
    for key in ["Tab"] * 5 + ["Shift+Tab"] * 5:
        widget.page.keyboard.press(key)
        assert widget.focused(IN_DIALOG), f"{key} left the dialog"
        seen.add(widget.focused("a => a.outerHTML.slice(0, 60)"))
    assert len(seen) >= 3
    # A click elsewhere on the page does not take focus out either.
    widget.page.locator("nav a").first.focus()
    assert widget.focused(IN_DIALOG)
    widget.page.keyboard.press("Escape")
    expect(widget.dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_the_conversation_survives_a_reload(widget: Any) -> None:
    widget.launcher().click()
    chat = widget.chat_input()
    chat.fill("キャンセルしたい")
    chat.press("Enter")
    expect(widget.log.locator(".card .q")).to_have_count(1)
    # The feedback row is drawn once the service says it takes feedback (a request of its own).
    expect(widget.log.locator(".fb")).to_have_count(1)
    before = widget.log.inner_text()
    widget.page.reload()
    widget.launcher().click()
    expect(widget.log.locator(".me")).to_have_text(["キャンセルしたい"])
    expect(widget.log.locator(".fb")).to_have_count(1)
    assert widget.log.inner_text() == before
    expect(widget.chat_input()).to_be_focused()


def test_chat_offers_clarify_choices_as_buttons_and_the_fallback(widget: Any, api: httpx.Client) -> None:
    response = api.get("/v1/search", params={"q": "order", "k": 3}).json() | {"decision": "clarify"}
    body = json.dumps(response)
    # Fixed here whatever the index decides: the chat's handling of clarify is what is under test.
    widget.page.route("**/v1/search?q=order*", lambda route: route.fulfill(content_type="application/json", body=body))
    widget.launcher().click()
    widget.chat_input().fill("order")
    widget.chat_input().press("Enter")
    choices = widget.log.locator(".card").get_by_role("button")
    expect(choices).to_have_text([r["question"] for r in response["results"]])
    choices.nth(2).click()
    expect(widget.log.locator(".card .q").last).to_have_text(response["results"][2]["question"])

    q = "おすすめのレストランを教えて"
    expected = api.get("/v1/search", params={"q": q, "k": 3}).json()
    assert expected["decision"] == "no_answer"
    widget.chat_input().fill(q)
    widget.chat_input().press("Enter")
    expect(widget.log.locator(".card").last).to_contain_text(expected["fallback"])


def test_feedback_is_offered_and_posted_when_the_service_says_so(widget: Any, watch: Any) -> None:
    posted: list[dict[str, Any]] = []
    widget.page.route("**/v1/capabilities", lambda route: route.fulfill(json={"feedback": True}))

    def feedback(route: Any) -> None:
        posted.append(route.request.post_data_json)
        route.fulfill(status=201, json={"ok": True})

    widget.page.route("**/v1/feedback", feedback)
    widget.launcher().click()
    widget.chat_input().fill("返品できますか")
    with widget.page.expect_response(lambda r: "/v1/search?" in r.url) as response:
        widget.chat_input().press("Enter")
    searches = [response.value.json()]
    group = widget.log.get_by_role("group", name="この回答は役に立ちましたか？")
    expect(group).to_be_visible()
    group.get_by_role("button", name="はい").click()
    expect(group.get_by_role("status")).to_have_text("ご回答ありがとうございました。")
    expect(group.get_by_role("button", name="はい")).to_have_attribute("aria-pressed", "true")
    group.get_by_role("button", name="いいえ").dispatch_event("click")  # one vote an answer (aria-disabled)
    widget.page.wait_for_timeout(100)
    (search,) = searches
    assert posted == [{"query_id": search["query_id"], "answer_id": search["results"][0]["id"], "helpful": True}]
    assert watch.count("/v1/capabilities") == 1


def fulfilling(reply: dict[str, Any]) -> Callable[[Any], None]:
    """A route handler answering `reply` (Route.fulfill's arguments)."""
    return lambda route: route.fulfill(**reply)


def test_no_feedback_buttons_when_the_service_offers_none(widget: Any, watch: Any) -> None:
    """Offered as false, or the route failing (404 before it existed, 500): no buttons, no error."""
    watch.allow(r"status of 500 .*/v1/capabilities")
    replies: list[dict[str, Any]] = [{"json": {"feedback": False}},
                                     {"status": 500, "json": {"error": {"code": "internal_error", "message": "x"}}}]
    for n, reply in enumerate(replies, 1):
        widget.page.route("**/v1/capabilities", fulfilling(reply))
        if n > 1:
            widget.page.reload()  # capabilities are asked once a page load
        widget.ask("How can I pay?")
        expect(widget.card.locator(".q")).to_be_visible()
        widget.page.wait_for_timeout(100)
        expect(widget.page.get_by_role("group", name="この回答は役に立ちましたか？")).to_have_count(0)
        assert watch.count("/v1/capabilities") == n
        widget.page.unroute("**/v1/capabilities")
    assert watch.count("/v1/feedback") == 0
