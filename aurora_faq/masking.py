"""Personal data out of shoppers' text before it is stored: `mask(text)`.

Shoppers paste e-mail addresses, phone numbers, order and card numbers into the search box and
the feedback comment. What is kept of their text is the NFKC form (full-width digits, `＠` and
`－` become ASCII, so one pattern covers both) with each of these replaced by a token:

    <email>   taro.yamada@example.co.jp
    <card>    13-19 digits, optionally grouped by single spaces or hyphens
    <phone>   Japanese numbers: 090-1234-5678, 03(1234)5678, 0120-123-456, +81 90 1234 5678,
              09012345678 (10 or 11 digits from a leading 0; 9 or 10 after +81)
    <order>   #1234, 注文番号 1234 / 注文番号：AB-1234, order no. 1234, any run of 7+ digits

Prices (`3,980円`), dates (`2026-12-02`) and short numbers (`3日`, `30 days`) are left alone.
"""

from __future__ import annotations

import re
import unicodedata

EMAIL, PHONE, ORDER, CARD = "<email>", "<phone>", "<order>", "<card>"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Before phones and digit runs, so a long number is called a card rather than an order.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Dashes NFKC leaves alone that people type between digits (ー too: 090ー1234ー5678).
_DASHES = re.compile(r"(?<=\d)[‐‑‒–—―−ー](?=\d)")
# Where a phone number may start; how far it may go is decided by `_phone_end`.
_PHONE_START = re.compile(r"(?<![\d+#])(?:\+81|\(0|0)")
_PHONE_BODY = re.compile(r"(?:\+81)?[\d() -]*\d")
_ORDER_LABEL = re.compile(
    r"(注文番号|ご注文番号|オーダー番号|受注番号|order\s*(?:number|no\.?|id))(\s*(?:は|:)?\s*#?)"
    r"([A-Za-z0-9][A-Za-z0-9-]{2,}[A-Za-z0-9])",
    re.IGNORECASE,
)
_ORDER_HASH = re.compile(r"#\s?\d{3,}(?![\d])")
_DIGIT_RUN = re.compile(r"(?<!\d)\d{7,}(?!\d)")


def _is_phone(candidate: str) -> bool:
    """Whether `candidate` (digits, spaces, hyphens, brackets) is a whole Japanese number."""
    if "  " in candidate or "--" in candidate or candidate.count("(") != candidate.count(")"):
        return False
    digits = re.sub(r"\D", "", candidate)
    if candidate.startswith("+81"):
        national = digits[2:]
        if candidate[3:].lstrip(" -").startswith("(0)"):
            national = national[1:]
        return len(national) in {9, 10} and national[0] != "0"
    if len(digits) == 10:
        return digits[1] != "0"  # 00 and 010 dial abroad
    # Eleven digits: mobiles (070, 080, 090), IP phones (050) and pagers (020).
    return len(digits) == 11 and digits[:3] in {"020", "050", "070", "080", "090"}


def _phone_end(text: str, start: int) -> int | None:
    """End of the longest phone number starting at `start`, trying whole digit groups."""
    body = _PHONE_BODY.match(text, start)
    if body is None:
        return None
    ends = [m.end() for m in re.finditer(r"\d+", text[start:body.end()])]
    for end in reversed(ends):
        if _is_phone(text[start:start + end]):
            return start + end
    return None


def _mask_phones(text: str) -> str:
    out: list[str] = []
    pos = 0
    for start in (m.start() for m in _PHONE_START.finditer(text)):
        if start < pos:
            continue
        end = _phone_end(text, start)
        if end is not None:
            out += [text[pos:start], PHONE]
            pos = end
    return "".join(out) + text[pos:]


def mask(text: str) -> str:
    """`text` in NFKC form with e-mail addresses, card, phone and order numbers replaced by tokens.

    Args:
        text: what a shopper wrote.

    Returns:
        The text safe to store (see the module docstring for what is replaced).
    """
    text = _DASHES.sub("-", unicodedata.normalize("NFKC", text))
    text = _EMAIL.sub(EMAIL, text)
    text = _CARD.sub(CARD, text)
    text = _mask_phones(text)
    text = _ORDER_LABEL.sub(lambda m: m[1] + m[2] + ORDER, text)
    text = _ORDER_HASH.sub(ORDER, text)
    return _DIGIT_RUN.sub(ORDER, text)
