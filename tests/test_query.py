"""`Query.of`: a question validated and normalized once, with the errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from aurora_faq.errors import QueryError
from aurora_faq.query import MAX_K, MAX_QUERY_CHARS, Query


def test_a_query_holds_the_text_as_sent_and_normalized() -> None:
    query = Query.of("  ＨＯＷ  do I\tcancel my ORDER？ ", k=5, category="order")
    assert query.text == "  ＨＯＷ  do I\tcancel my ORDER？ "
    assert query.normalized == "how do i cancel my order?"
    assert (query.k, query.category) == (5, "order")


@pytest.mark.parametrize(("text", "lang", "answer_in", "written"), [
    ("注文をキャンセルしたい", None, "ja", "ja"), ("cancel my order", None, "en", "en"),
    ("注文をキャンセルしたい", "en", "en", "ja"), ("cancel my order", "ja", "ja", "en"),
])
def test_the_answer_language_is_the_one_asked_for_else_the_one_written(text: str, lang: str | None,
                                                                     answer_in: str, written: str) -> None:
    query = Query.of(text, lang=lang)
    assert (query.lang, query.written) == (answer_in, written)


def test_the_cache_key_is_what_decides_the_answer() -> None:
    key = Query.of("How do I cancel my order?").cache_key
    assert Query.of("  how do i CANCEL my order? ").cache_key == key  # another spelling
    assert Query.of("How do I cancel my order?", lang="en").cache_key == key  # the language it would detect
    for other in (Query.of("How do I cancel my order?", k=2), Query.of("How do I cancel my order?", lang="ja"),
                  Query.of("How do I cancel my order?", category="order"), Query.of("cancel my order")):
        assert other.cache_key != key


@pytest.mark.parametrize(("text", "k", "lang", "field", "message"), [
    ("", 3, None, "text", "text is empty: send the shopper's question as text"),
    ("   \t\n", 3, None, "text", "text is empty"),
    ("x" * (MAX_QUERY_CHARS + 1), 3, None, "text",
     f"text is {MAX_QUERY_CHARS + 1} characters; send at most {MAX_QUERY_CHARS}"),
    ("\x00\x01\x02", 3, None, "text", "text holds only control characters or spaces"),
    ("coupon", 0, None, "k", f"k must be between 1 and {MAX_K}, got 0"),
    ("coupon", MAX_K + 1, None, "k", f"k must be between 1 and {MAX_K}, got {MAX_K + 1}"),
    ("coupon", True, None, "k", "k must be an integer"),
    ("coupon", 2.0, None, "k", "k must be an integer"),
    ("coupon", 3, "fr", "lang", "lang must be one of ja, en (or omitted to detect it), got 'fr'"),
])
def test_bad_queries_raise_a_query_error_naming_the_field(text: str, k: Any, lang: str | None, field: str,
                                                          message: str) -> None:
    with pytest.raises(QueryError) as info:
        Query.of(text, k=k, lang=lang)
    assert info.value.field == field
    assert str(info.value).startswith(message)


def test_a_query_error_is_worded_with_the_callers_name_for_the_field() -> None:
    with pytest.raises(QueryError) as info:
        Query.of("x" * (MAX_QUERY_CHARS + 1))
    assert info.value.worded("query 'q'") == \
        f"query 'q' is {MAX_QUERY_CHARS + 1} characters; send at most {MAX_QUERY_CHARS}"


@pytest.mark.parametrize(("text", "k"), [("x" * MAX_QUERY_CHARS, 1), ("c", MAX_K)])
def test_limits_are_inclusive(text: str, k: int) -> None:
    assert Query.of(text, k=k).k == k
