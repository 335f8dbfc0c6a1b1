"""Normalization, language detection and the Japanese-aware lexical tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from aurora_faq.lexical import LexicalIndex
from aurora_faq.text import Tokenizer, default_tokenizer, detect_lang, has_content, normalize, to_hiragana


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return default_tokenizer()


@pytest.mark.parametrize(("raw", "expected"), [
    ("ＡＢＣ１２３", "abc123"),  # full-width latin and digits
    ("ｸｰﾎﾟﾝ", "クーポン"),  # half-width katakana, voiced mark joined
    ("Cancel MY Order", "cancel my order"),
    ("Straße", "strasse"),  # case folding, not just lower()
    ("？！", "?!"),
    ("a\x00b\x07c\x1bd\x7fe\x85f", "a b c d e f"),  # C0, DEL and C1 controls
    ("  many\t\n  spaces\u3000here  ", "many spaces here"),  # ideographic space too
])
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_is_idempotent() -> None:
    once = normalize("  ＰａｙＰａｙ\x00 使える？ ")
    assert normalize(once) == once == "paypay 使える?"


@pytest.mark.parametrize(("text", "content"), [("\x00\x01\t \u3000", False), ("", False), ("a", True),
                                               ("\x00あ", True)])
def test_has_content(text: str, content: bool) -> None:
    assert has_content(text) is content


@pytest.mark.parametrize(("text", "lang"), [
    ("How do I pay?", "en"), ("Paidy 使えない", "ja"), ("くーぽん", "ja"), ("クーポン", "ja"),
    ("ｸｰﾎﾟﾝ", "ja"), ("送料", "ja"), ("ＡＢＣ", "en"), ("", "en"), ("1234", "en"),
])
def test_detect_lang(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


def test_to_hiragana_keeps_the_long_vowel_mark() -> None:
    assert to_hiragana("クーポン・カード") == "くーぽん・かーど"


def test_english_tokens_drop_stop_words_and_punctuation(tok: Tokenizer) -> None:
    assert tok("How do I cancel my ORDER?") == ["cancel", "order"]
    assert tok("Where's my parcel, please") == ["where's", "parcel"]


def test_japanese_tokens_drop_particles_and_auxiliaries(tok: Tokenizer) -> None:
    words = [t for t in tok("注文をキャンセルしたいです") if not t.startswith("~")]
    assert "注文" in words and "キャンセル" in words
    assert not {"を", "た", "たい", "です"} & set(words)


@pytest.mark.parametrize(("text", "lemma"), [("クーポンを使いたい", "使う"), ("荷物が届かない", "届く"),
                                             ("走った", "走る")])
def test_japanese_tokens_are_lemmas(tok: Tokenizer, text: str, lemma: str) -> None:
    assert lemma in tok(text)


def test_latin_words_inside_japanese_are_kept(tok: Tokenizer) -> None:
    tokens = tok("Paidy 使えない")
    assert "paidy" in tokens and "使う" in tokens


@pytest.mark.parametrize(("kana", "written"), [("くーぽん", "クーポン"), ("しはらいほうほう", "支払い方法"),
                                               ("きゃんせる", "キャンセル")])
def test_hiragana_shares_reading_bigrams_with_the_written_form(tok: Tokenizer, kana: str,
                                                               written: str) -> None:
    kana_bigrams = {t for t in tok(kana) if t.startswith("~")}
    written_bigrams = {t for t in tok(written) if t.startswith("~")}
    assert written_bigrams
    assert written_bigrams <= kana_bigrams


def test_hiragana_query_finds_the_katakana_document_lexically(tok: Tokenizer) -> None:
    docs = ["クーポンの使い方", "配送日数", "How to pay"]
    lexical = LexicalIndex.build([normalize(d) for d in docs], tok)
    scores = lexical.scores("くーぽん")
    assert scores[0] > 0
    assert scores[1] == scores[2] == 0
    assert ((0 <= scores) & (scores <= 1)).all()


def test_lexical_score_is_one_when_every_query_term_matches(tok: Tokenizer) -> None:
    lexical = LexicalIndex.build(["coupon code", "delivery time", "pay card", "return item"], tok)
    assert lexical.scores("coupon code")[0] == pytest.approx(1.0)


def test_a_lexical_index_built_in_a_child_process_scores_as_one_built_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import aurora_faq.lexical as lexical_module

    texts = ["送料は無料ですか", "how do i return an item", "返品の方法を教えてください",
             "クーポンコードの使い方", "which payment methods do you accept"] * 4
    here = LexicalIndex.build(texts, default_tokenizer())
    monkeypatch.setattr(lexical_module, "BACKGROUND_MIN_TEXTS", 10)
    there = LexicalIndex.build_in_background(texts)()
    for query in ["送料", "return item", "くーぽん", "payment"]:
        assert np.allclose(there.scores(query), here.scores(query))
        assert there.known_share(query) == here.known_share(query)


@pytest.fixture(scope="module")
def shop(tok: Tokenizer) -> LexicalIndex:
    """"order" is in three documents, "coupon" in one, "refund" in two."""
    return LexicalIndex.build(["coupon code for my order", "order history", "cancel order and refund",
                               "refund policy"], tok)


def test_known_share_is_one_for_the_faqs_own_words_and_zero_for_others(shop: LexicalIndex) -> None:
    assert shop.known_share("coupon order") == 1.0
    assert shop.known_share("weather forecast tomorrow") == 0.0
    assert shop.known_share("How do I") == 1.0  # no words left to judge: nothing unknown


def test_known_share_weighs_rare_words_above_common_ones(shop: LexicalIndex) -> None:
    rare, common = shop.known_share("coupon weather"), shop.known_share("order weather")
    assert 0.0 < common < rare < 1.0  # "coupon" (one document) tells more than "order" (three)


def test_known_share_ignores_hidden_documents(shop: LexicalIndex) -> None:
    assert shop.known_share("coupon", hidden_docs=np.array([0])) == 0.0  # its only document
    assert shop.known_share("refund", hidden_docs=np.array([2])) == 1.0  # still in "refund policy"
    assert shop.known_share("refund", hidden_docs=np.array([2, 3])) == 0.0
    assert 0.0 < shop.known_share("coupon refund", hidden_docs=np.array([2, 3])) < 1.0


def test_reading_gives_the_hiragana_of_japanese_text() -> None:
    tokenizer = default_tokenizer()
    assert tokenizer.reading("返品したい") == "へんぴんしたい"
    assert tokenizer.reading("クーポン、使えますか？") == "くーぽんつかえますか"  # punctuation has none
    assert tokenizer.reading("Paidyで払う") == "ではらう"  # nor Latin words
    assert tokenizer.reading("ぎふとけん") == "ぎふとけん"  # UniDic tags the lone ぎ a symbol: kana all the same
    assert tokenizer.reading("How much?") == "how much?"
