"""English typos put right toward the FAQ's words before a question is searched."""

from __future__ import annotations

import pytest

from aurora_faq.lexical import LexicalIndex
from aurora_faq.spelling import corrected
from aurora_faq.text import default_tokenizer, normalize

FAQ_TEXTS = ["How do I cancel my order?", "My payment was declined by my credit card.",
             "The confirmation email did not arrive.", "We accept PayPay and Amazon Pay.",
             "Your tracking number is in the shipping email; it is not working until the parcel ships."]


@pytest.fixture(scope="module")
def lexical() -> LexicalIndex:
    return LexicalIndex.build(FAQ_TEXTS, default_tokenizer())


@pytest.mark.parametrize(("typed", "meant"), [
    ("how do i cancell my oder", "how do i cancel my order"),  # oder: order (the FAQ's), not over
    ("my payement was declined by my credit crad", "my payment was declined by my credit card"),
    ("confirmaton emial", "confirmation email"),
    ("trakcing numbr not wroking", "tracking number not working"),
])
def test_one_edit_typos_become_the_faqs_words(lexical: LexicalIndex, typed: str, meant: str) -> None:
    assert lexical.corrected(normalize(typed)) == meant


@pytest.mark.parametrize("text", [
    "do you accept paypal?",  # one edit from papal and from the FAQ's paypay: a name stays
    "my temu order", "cancel my hulu subscription", "my rakuten order hasn't arrived",
    "where is my parcel",  # words the FAQ writes, and English ones, stay as they are
])
def test_names_and_words_stay(lexical: LexicalIndex, text: str) -> None:
    assert lexical.corrected(text) == text


def test_only_words_the_faq_writes_are_targets() -> None:
    assert corrected("cancell", lambda w: 0) == "cancell"
    assert corrected("cancell", lambda w: int(w == "cancel")) == "cancel"
