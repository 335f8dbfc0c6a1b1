"""`/v1/faq`: browse the FAQ the service answers from (the index's own copy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from aurora_faq.errors import EntryNotFoundError
from aurora_faq.faq import MAX_ID_CHARS, Entry

from ..deps import current_engine
from ..errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE
from ..schemas import MAX_CATEGORY_CHARS, FaqEntry, FaqList, Lang
from . import make_router

router = make_router(prefix="/v1", tags=["faq"], responses=ERROR_RESPONSES)

LangQuery = Annotated[
    Lang | None,
    Query(description="Only this language's question and answer (the entry's own language when it "
                      "has no text in this one, as search does)."),
]


def to_faq_entry(entry: Entry, lang: str | None) -> FaqEntry:
    """An FAQ entry for the API, in every language or only in `lang`."""
    langs = [entry.in_lang(lang)] if lang else entry.langs
    return FaqEntry(id=entry.id, category=entry.category,
                    question={la: entry.question[la] for la in langs},
                    answer={la: entry.answer[la] for la in langs},
                    tags=list(entry.tags), url=entry.url)


@router.get("/faq", response_model=FaqList)
def list_faq(
    request: Request,
    lang: LangQuery = None,
    category: Annotated[str | None, Query(max_length=MAX_CATEGORY_CHARS,
                                          description="Only entries of this category.")] = None,
) -> FaqList:
    """List FAQ entries, optionally in one language and of one category."""
    engine = current_engine(request)
    entries = [to_faq_entry(e, lang) for e in engine.index.entries
               if category is None or e.category == category]
    return FaqList(count=len(entries), entries=entries)


@router.get("/faq/{entry_id}", response_model=FaqEntry, responses=NOT_FOUND_RESPONSE)
def get_faq(
    request: Request,
    entry_id: Annotated[str, Path(max_length=MAX_ID_CHARS)],
    lang: LangQuery = None,
) -> FaqEntry:
    """Get one FAQ entry by its id."""
    engine = current_engine(request)
    position = engine.index.by_id.get(entry_id)
    if position is None:
        raise EntryNotFoundError(entry_id)
    return to_faq_entry(engine.index.entries[position], lang)
