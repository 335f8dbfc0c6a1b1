"""aurora_faq.masking: personal data replaced before storage, everything else left as written."""

from __future__ import annotations

import unicodedata

import pytest

from aurora_faq.masking import mask

MASKED = [
    # e-mail
    ("連絡先は taro.yamada@example.co.jp です", "連絡先は <email> です"),
    ("my email is Jane_Doe+shop@gmail.com, thanks", "my email is <email>, thanks"),
    ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐに送って", "<email>に送って"),
    # mobile and landline phones, with and without hyphens, full-width, +81
    ("電話番号は090-1234-5678です", "電話番号は<phone>です"),
    ("09012345678に電話ください", "<phone>に電話ください"),
    ("０９０－１２３４－５６７８", "<phone>"),
    ("080ー1234ー5678へ", "<phone>へ"),
    ("070 1234 5678", "<phone>"),
    ("店舗は03-1234-5678です", "店舗は<phone>です"),
    ("03(1234)5678まで", "<phone>まで"),
    ("(03)1234-5678", "<phone>"),
    ("045-123-4567 横浜", "<phone> 横浜"),
    ("0120-123-456 フリーダイヤル", "<phone> フリーダイヤル"),
    ("0312345678", "<phone>"),
    ("call +81-90-1234-5678 please", "call <phone> please"),
    ("+81 3 1234 5678", "<phone>"),
    ("+81(0)90-1234-5678", "<phone>"),
    ("+819012345678", "<phone>"),
    ("050-1234-5678 (IP)", "<phone> (IP)"),
    ("090-1234-5678と03-1234-5678", "<phone>と<phone>"),
    ("090-1234-5678 03-1234-5678", "<phone> <phone>"),
    # order numbers
    ("注文番号 1234 が届きません", "注文番号 <order> が届きません"),
    ("注文番号：1234", "注文番号:<order>"),
    ("注文番号は5678です", "注文番号は<order>です"),
    ("ご注文番号: AB-20261202", "ご注文番号: <order>"),
    ("order #1234 has not arrived", "order <order> has not arrived"),
    ("Order number 98765 is late", "Order number <order> is late"),
    ("order no. 4567", "order no. <order>"),
    ("#1234の件", "<order>の件"),
    ("１２３４５６７の注文", "<order>の注文"),
    ("問い合わせ番号20261202001", "問い合わせ番号<order>"),
    # card-like numbers
    ("カード 4111 1111 1111 1111 で払った", "カード <card> で払った"),
    ("card 4111-1111-1111-1111", "card <card>"),
    ("5500000000000004", "<card>"),
    ("3782 822463 10005", "<card>"),
    # several at once
    ("注文番号 1234、090-1234-5678、a@b.jp", "注文番号 <order>、<phone>、<email>"),
]

KEPT = [
    "3,980円のバッグ",
    "送料は550円です",
    "¥12,800 のコート",
    "2026-12-02に注文しました",
    "2026/12/02 10:30",
    "3日以内に届きますか",
    "30 days return policy",
    "サイズは23.5cmです",
    "10%オフのクーポン",
    "1234円",
    "2個注文した",
    "クーポンコードの使い方",
    "ラッピングは無料ですか？",
    "返品は7日以内",
    "123456",  # six digits: a postcode-like or short code, not an order
    "〒150-0001",
    "12:00-18:00",
    "S/M/L サイズ",
    "iPhone 15 ケース",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(text: str) -> None:
    assert mask(text) == unicodedata.normalize("NFKC", text)


def test_text_is_stored_in_nfkc_form() -> None:
    assert mask("ＡＢＣ　３日") == "ABC 3日"
    assert mask("クーポン") == "クーポン"  # the long vowel mark stays outside numbers
