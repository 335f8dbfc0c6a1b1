"""Names of other companies' services: found in a question, matched against what the FAQ writes,
and kept from an answer when the FAQ never writes them."""

from __future__ import annotations

import numpy as np
import pytest

from aurora_faq.engine import Decision, Thresholds, decide
from aurora_faq.lexical import LexicalIndex
from aurora_faq.names import names
from aurora_faq.text import default_tokenizer, normalize

FAQ_TEXTS = ["We accept credit cards, Amazon Pay, Apple Pay and Paidy.",
             "Amazon Payで決済できない場合は、別のお支払い方法をお試しください。",
             "docomoのメールアドレスでは注文確認メールが届かないことがあります。",
             "If your card is declined, check its expiry date."]


def found(text: str) -> list[str]:
    """Each name as first spelt (as typed or UniDic's lemma)."""
    return [" ".join(name[0]) for name in names(normalize(text))]


@pytest.mark.parametrize(("text", "expected"), [
    ("How do I change my Spotify payment method?", ["spotify"]),
    ("My Rakuten order hasn't arrived", ["rakuten"]),
    ("My Netflix account was charged twice", ["netflix"]),  # listed in English, but rarely
    ("Can I return shoes I bought at Zalando?", ["zalando"]),
    ("My DHL package has no tracking info", ["dhl"]),  # short: one edit from "dal", still a name
    ("Spotifyの支払い方法を変えたい", ["spotify"]),
    ("ユニクロで買った服を返品したい", ["ユニクロ"]),  # a proper noun to UniDic
    ("ネットフリックスを解約したい", ["ネットフリックス"]),  # a word UniDic does not know
    ("佐川急便の不在票が入っていた", ["佐川"]),
])
def test_names_of_companies_are_found(text: str, expected: list[str]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "How do I cancel my order?",
    "I bought a Barbour jacket from you and it doesn't fit",  # what this shop sells
    "ルナのワンピースを注文したけどキャンセルしたい",
    "I'm Yuki, my order hasn't arrived",  # the shopper
    "Netflix won't accept my card",  # no account, order or store of its own: left to the detector
    "my payement was declined",  # typos of common words
    "confirmaton emial not recieved",
    "東京に住む田中です。注文が届きません",  # a place and a person: shoppers name those too
    "サイズが合わないので交換したい",
])
def test_words_typos_places_people_and_products_are_no_service_names(text: str) -> None:
    assert found(text) == []


def test_a_name_matches_the_faq_in_any_of_its_spellings() -> None:
    lexical = LexicalIndex.build(FAQ_TEXTS, default_tokenizer())
    written = ["AmazonPayの決済がエラーになる", "applepayで払えますか", "アマゾンペイでエラーが出ました",
               "my padiy payment was rejected", "my crad payment failed", "Docomoの料金"]  # the last three: typos
    unwritten = ["Spotifyの支払い方法を変えたい", "cancel my Hulu subscription", "ヨドバシで買った"]
    assert all(names(normalize(q)) for q in written + unwritten)  # each names a service
    assert [lexical.unknown_names(normalize(q)) for q in written + unwritten] == [0] * 6 + [1] * 3


def test_a_name_only_hidden_documents_write_is_unknown() -> None:
    # Build-time tuning hides a phrasing (or an entry) and asks it: the name must look unwritten then.
    lexical = LexicalIndex.build(FAQ_TEXTS, default_tokenizer())
    query = normalize("docomoの料金プランについて")
    assert lexical.unknown_names(query) == 0
    assert lexical.unknown_names(query, hidden_docs=np.array([2])) == 1
    assert lexical.unknown_names(normalize("my Paidy payment"), hidden_docs=np.array([2])) == 0


def test_a_question_naming_an_unwritten_service_is_offered_not_answered() -> None:
    thresholds = Thresholds(answer=0.5, clarify=0.2)
    assert decide(0.99, 3, thresholds) is Decision.ANSWER
    assert decide(0.99, 3, thresholds, names_unknown=True) is Decision.CLARIFY
    assert decide(0.1, 3, thresholds, names_unknown=True) is Decision.NO_ANSWER


def test_across_languages_only_names_in_latin_letters_count() -> None:
    # An English FAQ could write `Spotify` or `Amazon` (アマゾン by UniDic's gloss), never ネットフリックス.
    english = LexicalIndex.build(["We accept credit cards, Amazon Pay and Paidy."], default_tokenizer())
    asked = {"Spotifyの支払い方法を変えたい": 1, "アマゾンペイでエラーが出ました": 0, "ネットフリックスを解約したい": 0}
    assert {q: english.unknown_names(normalize(q), latin_only=True) for q in asked} == asked
    assert english.unknown_names(normalize("ネットフリックスを解約したい")) == 1
