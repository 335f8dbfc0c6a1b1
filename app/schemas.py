"""The API contract: every request and response body, with the limits the OpenAPI shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from aurora_faq.faq import MAX_ID_CHARS
from aurora_faq.query import MAX_K, MAX_QUERY_CHARS, Query

from .storage.models import MAX_COMMENT_CHARS

Lang = Literal["ja", "en"]  # aurora_faq.text.LANGS; tests check they agree
Decision = Literal["answer", "clarify", "no_answer"]  # aurora_faq.engine.Decision; tests check they agree
MAX_CATEGORY_CHARS = 200


def _not_bool(value: object) -> object:
    # Pydantic reads JSON `true` as 1; a boolean `k` is a client bug, not a count.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


Count = Annotated[int, BeforeValidator(_not_bool)]

# White space and control or invisible characters: what aurora_faq.text.normalize removes.
_BLANK = r"\u0000-\u0020\u007f-\u00a0\u00ad\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff"
# A question must hold something else (Query.of refuses it otherwise). Shown in the schema, not
# checked by pydantic: the core's refusal says what is wrong; tests check the two agree.
READABLE: dict[str, Any] = {"pattern": rf"^[{_BLANK}]*[^{_BLANK}]"}


class SearchRequest(BaseModel):
    """A shopper's question: the `GET /v1/search` query string or the `POST /v1/search` body."""

    # Unknown fields are refused: a misspelt `category` would otherwise widen the search silently.
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, json_schema_extra=READABLE,
                   description="The question, in Japanese or English.",
                   examples=["送料はいくらですか", "how much is shipping?"])
    k: Count = Field(3, ge=1, le=MAX_K, description="How many results to return.")
    lang: Lang | None = Field(None, description="Answer language; detected from `q` when omitted.")
    category: str | None = Field(None, max_length=MAX_CATEGORY_CHARS,
                                 description="Only return entries of this category.")

    def to_query(self) -> Query:
        """The core's validated question.

        Raises:
            QueryError: what the limits above cannot see (a `q` of only spaces or controls).
        """
        return Query.of(self.q, k=self.k, lang=self.lang, category=self.category)


class SearchHit(BaseModel):
    id: str
    question: str = Field(description="The entry's question, in `lang`.")
    answer: str = Field(description="The entry's answer, in `lang`.")
    lang: Lang = Field(description="The query's language when the entry has it, else the entry's own.")
    category: str
    score: float = Field(description="Retrieval score (higher is closer); compare within one response.")
    confidence: float = Field(ge=0.0, le=1.0, description="Calibrated probability that this is the answer.")
    matched: str = Field(description="The FAQ phrasing closest to the query.")
    url: str | None


class IndexInfo(BaseModel):
    version: str = Field(description="First 12 hex digits of the FAQ file's SHA-256.")
    encoder: str


class SearchResponse(BaseModel):
    query_id: str = Field(description="Unique id of this search (32 hex digits, time-ordered), for logs and feedback.")
    query: str
    lang: Lang
    decision: Decision = Field(description="`answer`: show the first result; `clarify`: offer the results "
                                           "as choices; `no_answer`: show `fallback`.")
    results: list[SearchHit]
    fallback: str | None = Field(description="Message to show when `decision` is not `answer`.")
    index: IndexInfo


class FaqEntry(BaseModel):
    id: str = Field(max_length=MAX_ID_CHARS)
    category: str
    question: dict[Lang, str]
    answer: dict[Lang, str]
    tags: list[str]
    url: str | None


class FaqList(BaseModel):
    count: int
    entries: list[FaqEntry]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    entries: int
    encoder: str
    version: str
    built_at: str | None


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable kind, e.g. `invalid_request`.")
    message: str = Field(description="What went wrong and what to change.")


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorDetail


# -- suggestions as the shopper types (GET /v1/suggest), and what the widget may offer -----------

MAX_PARTIAL_CHARS = 200  # typed so far; a longer text is a question for /v1/search
MAX_SUGGESTIONS = 10


class SuggestRequest(BaseModel):
    """What the shopper has typed so far: the `GET /v1/suggest` query string."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=MAX_PARTIAL_CHARS, json_schema_extra=READABLE,
                   description="The text typed so far, in any width, kana or case.",
                   examples=["クーポ", "ｸｰﾎﾟ", "coup"])
    k: Count = Field(5, ge=1, le=MAX_SUGGESTIONS, description="How many suggestions to return at most.")
    lang: Lang | None = Field(None, description="Language to show the questions in; detected from `q` when omitted.")

    def to_query(self) -> Query:
        """The core's validated text, with the language to show questions in.

        Raises:
            QueryError: what the limits above cannot see (a `q` of only spaces or controls).
        """
        return Query.of(self.q, lang=self.lang)


class SuggestionOut(BaseModel):
    id: str
    question: str = Field(description="The entry's question, in `lang`.")
    lang: Lang = Field(description="The requested language when the entry has it, else the entry's own.")
    category: str


class SuggestResponse(BaseModel):
    query: str
    lang: Lang = Field(description="The language asked for, or the one `q` is written in.")
    suggestions: list[SuggestionOut] = Field(description="Best first, one an FAQ entry; empty when nothing matches.")


class FeedbackRequest(BaseModel):
    """A shopper's verdict on an answer."""

    model_config = ConfigDict(extra="forbid")

    query_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                                 description="The search's `query_id`; omitted for an answer picked from suggestions.")
    answer_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="The FAQ entry judged.")
    helpful: bool
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS,
                                description="Free text; e-mail addresses, phone, order and card numbers are masked.")


class FeedbackCreated(BaseModel):
    id: int = Field(description="The stored feedback's id.")


class Capabilities(BaseModel):
    """What the widget may offer besides suggestions and answers."""

    feedback: bool = Field(False, description="Whether the service takes feedback on its answers: the widget "
                                              "shows its feedback buttons only then.")
