"""What the stored searches and feedback say, for the shop's staff and the FAQ's author:
`/v1/admin/feedback`, `/v1/admin/analytics` and `scripts/report.py` read it from here.

Everything shown is stored text, masked when it was written. Days are UTC days. Suggestions are
data/faq.jsonl lines to paste, never applied:

- new entries: unanswered searches grouped by meaning (`aurora_faq.grouping`), for groups of at
  least `min_shoppers` searches;
- alternates: the text of a search that was clarified, or answered with a confidence below the
  answer threshold + `UNSURE_MARGIN`, whose shopper then marked an entry helpful (and not also
  unhelpful), added to that entry. The margin: the calibrated confidence of a phrasing the
  FAQ covers well sits near 0.98 (data/faq.jsonl indexed with e5+use answers 142 of
  data/eval's questions: 140 over 0.87, one at 0.79, one at 0.53, against an answer threshold
  of 0.47), so an answer within 0.15 of the threshold is one the entry's phrasings barely reach.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from aurora_faq.engine import Decision, Engine
from aurora_faq.grouping import (
    MAX_PHRASINGS,
    QueryGroup,
    draft_entry,
    faq_line,
    group_texts,
    language_centres,
    phrasing_key,
    with_alternates,
)
from aurora_faq.text import Tokenizer, default_tokenizer

from .models import Feedback, Search, utc_now

UNSURE_MARGIN = 0.15
MAX_UNANSWERED = 5000  # the most recent unanswered searches are grouped, at most
MAX_QUERY_ROWS = 5000  # distinct texts read for the top queries, most asked first
MAX_CONFIRMED = 5000  # confirmed (search, entry) pairs read for alternates
TOP_QUERIES = 20
MAX_GROUPS_SHOWN = 50
MAX_FEEDBACK_PAGE = 1000


# -- /v1/admin/feedback --------------------------------------------------------------------------

class FeedbackItem(BaseModel):
    id: int
    query_id: str | None = Field(description="The search judged; None for an answer picked from suggestions, "
                                             "or once retention deleted the search.")
    answer_id: str
    helpful: bool
    comment: str | None = Field(description="Masked when stored.")
    created_at: datetime = Field(description="UTC.")
    query: str | None = Field(description="The search's text, masked; None without a search.")
    lang: str | None = Field(description="The search's language; None without a search.")


class FeedbackPage(BaseModel):
    """Feedback oldest first, in `id` order (the order it was stored); `next` continues after the last item."""

    items: list[FeedbackItem] = Field(max_length=MAX_FEEDBACK_PAGE)
    next: int | None = Field(description="Pass as `after` (with the same `since`) for the next page; null when "
                                         "this page holds the last stored row. Rows stored later appear after it.")


def feedback_page(sessions: sessionmaker[Session], *, limit: int, since: datetime | None = None,
                  after: int | None = None) -> FeedbackPage:
    """One page of stored feedback.

    Keyset paging on the id, which orders rows as they were stored: a page ends between any two
    rows, and no row is skipped or repeated however many share a time.

    Args:
        sessions: the session factory.
        limit: the most rows on the page.
        since: only rows created at or after this (UTC).
        after: the previous page's `next`: only rows stored after that one.
    """
    stmt = (select(Feedback, Search.query, Search.lang)
            .outerjoin(Search, Search.query_id == Feedback.query_id)
            .order_by(Feedback.id).limit(limit + 1))
    if since is not None:
        stmt = stmt.where(Feedback.created_at >= since)
    if after is not None:
        stmt = stmt.where(Feedback.id > after)
    with sessions() as session:
        rows = session.execute(stmt).all()
    items = [FeedbackItem(id=f.id, query_id=f.query_id, answer_id=f.answer_id, helpful=f.helpful, comment=f.comment,
                          created_at=f.created_at, query=query, lang=lang) for f, query, lang in rows[:limit]]
    return FeedbackPage(items=items, next=items[-1].id if len(rows) > limit else None)


# -- /v1/admin/analytics -------------------------------------------------------------------------

class Period(BaseModel):
    days: int = Field(ge=1, description="UTC days, today the last.")
    since: datetime = Field(description="Start of the first day (UTC).")
    until: datetime = Field(description="When this was computed (UTC).")


class Rates(BaseModel):
    lang: str
    searches: int = Field(ge=0)
    answer_rate: float = Field(ge=0.0, le=1.0)
    clarify_rate: float = Field(ge=0.0, le=1.0)
    no_answer_rate: float = Field(ge=0.0, le=1.0)


class DayRates(Rates):
    day: date = Field(description="A UTC day with searches in this language (days without are left out).")


class HelpfulRate(BaseModel):
    entry_id: str
    category: str = Field(description="Empty when the entry is no longer in the index.")
    helpful: int = Field(ge=0)
    unhelpful: int = Field(ge=0)
    helpful_rate: float = Field(ge=0.0, le=1.0)


class EntryRef(BaseModel):
    id: str
    category: str
    question: dict[str, str]


class TopQuery(BaseModel):
    text: str = Field(description="The most frequent spelling of this phrasing (masked).")
    searches: int = Field(ge=1)
    langs: list[str]
    answer_rate: float = Field(ge=0.0, le=1.0)


class PhrasingOut(BaseModel):
    text: str
    lang: str
    count: int = Field(ge=1, description="Searches asked this way.")


class QueryGroupOut(BaseModel):
    shoppers: int = Field(ge=1, description="Searches in the group.")
    summary: str
    langs: list[str]
    central: str = Field(description="The phrasing nearest the group's centre.")
    phrasings: list[PhrasingOut] = Field(description="Most asked first (ties: most central).")
    category: str = Field(description="The category of the entry most of these searches came nearest; empty "
                                      "when they do not agree.")


class Unanswered(BaseModel):
    searches: int = Field(ge=0, description="Unanswered searches in the period.")
    grouped: int = Field(ge=0, description="Of which grouped: the most recent, at most a few thousand, of the "
                                           "most asked phrasings.")
    groups: list[QueryGroupOut] = Field(description="Largest first; the largest few dozen.")


class NewEntry(BaseModel):
    shoppers: int = Field(ge=1)
    phrasings: list[str]
    line: str = Field(description="A data/faq.jsonl line: id, category guess, question, alternates; the answer "
                                  "empty, with a TODO note.")


class NewAlternates(BaseModel):
    entry_id: str
    added: dict[str, list[str]] = Field(description="By language, the phrasings the line adds.")
    shoppers: int = Field(ge=1, description="Searches confirming the added phrasings.")
    line: str = Field(description="The entry's whole data/faq.jsonl line with the phrasings added.")


class Suggestions(BaseModel):
    """For the FAQ's author: lines to paste into data/faq.jsonl; nothing is applied."""

    min_shoppers: int = Field(ge=1)
    unsure_below: float = Field(description="Answers below this confidence count as unsure (answer threshold "
                                            f"+ {UNSURE_MARGIN}).")
    new_entries: list[NewEntry]
    alternates: list[NewAlternates]


class Analytics(BaseModel):
    period: Period
    index_version: str = Field(description="The index suggestions are made against.")
    totals: list[Rates] = Field(description="Per language, over the period.")
    daily: list[DayRates] = Field(description="Per day and language, oldest first.")
    helpful: list[HelpfulRate] = Field(description="Per entry with feedback, least helpful first.")
    never_hit: list[EntryRef] = Field(description="Entries never the answer (top-1 of an answered search).")
    top_queries: list[TopQuery] = Field(description="Most asked phrasings first.")
    unanswered: Unanswered
    suggestions: Suggestions


def period(days: int, now: datetime | None = None) -> Period:
    """The last `days` UTC days, today the last, up to `now`."""
    now = now or utc_now()
    start = datetime.combine(now.astimezone(UTC).date() - timedelta(days=days - 1), time(), UTC)
    return Period(days=days, since=start, until=now)


def _utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    """`column`'s UTC day as YYYY-MM-DD, in the database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)  # SQLite keeps UTC times as text


def _rates(lang: str, counts: Counter[str]) -> dict[str, Any]:
    total = sum(counts.values())
    return {"lang": lang, "searches": total, **{f"{d.value}_rate": counts[d.value] / total for d in Decision}}


def _decision_rates(session: Session, since: datetime) -> tuple[list[Rates], list[DayRates]]:
    day = _utc_day(session, Search.created_at)
    rows = session.execute(select(day, Search.lang, Search.decision, func.count())
                           .where(Search.created_at >= since).group_by(day, Search.lang, Search.decision)).all()
    by_day: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    by_lang: dict[str, Counter[str]] = defaultdict(Counter)
    for d, lang, decision, n in rows:
        by_day[str(d), lang][decision] += n
        by_lang[lang][decision] += n
    totals = [Rates(**_rates(lang, c)) for lang, c in sorted(by_lang.items())]
    daily = [DayRates(day=date.fromisoformat(d), **_rates(lang, c)) for (d, lang), c in sorted(by_day.items())]
    return totals, daily


def _helpful(session: Session, since: datetime, engine: Engine) -> list[HelpfulRate]:
    helpful = func.sum(case((Feedback.helpful.is_(True), 1), else_=0))
    rows = session.execute(select(Feedback.answer_id, helpful, func.count()).where(Feedback.created_at >= since)
                           .group_by(Feedback.answer_id)).all()
    entries, by_id = engine.index.entries, engine.index.by_id
    out = [HelpfulRate(entry_id=entry_id, category=entries[by_id[entry_id]].category if entry_id in by_id else "",
                       helpful=int(h), unhelpful=n - int(h), helpful_rate=int(h) / n) for entry_id, h, n in rows]
    return sorted(out, key=lambda r: (r.helpful_rate, -(r.helpful + r.unhelpful), r.entry_id))


def _never_hit(session: Session, since: datetime, engine: Engine) -> list[EntryRef]:
    top = Search.top_ids[0].as_string()
    hit = set(session.scalars(select(top).distinct()
                              .where(Search.created_at >= since, Search.decision == Decision.ANSWER.value)))
    return [EntryRef(id=e.id, category=e.category, question=e.question) for e in engine.index.entries
            if e.id not in hit]


def _top_queries(session: Session, since: datetime, tokenizer: Tokenizer) -> list[TopQuery]:
    n = func.count()
    rows = session.execute(select(Search.query, Search.lang, Search.decision, n).where(Search.created_at >= since)
                           .group_by(Search.query, Search.lang, Search.decision)
                           .order_by(n.desc(), Search.query).limit(MAX_QUERY_ROWS)).all()
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    langs: dict[str, set[str]] = defaultdict(set)
    answered: Counter[str] = Counter()
    for text, lang, decision, count in rows:
        key = phrasing_key(text, tokenizer)
        spellings[key][text] += count
        langs[key].add(lang)
        answered[key] += count if decision == Decision.ANSWER.value else 0
    top = sorted(spellings, key=lambda k: -spellings[k].total())[:TOP_QUERIES]
    return [TopQuery(text=spellings[k].most_common(1)[0][0], searches=spellings[k].total(), langs=sorted(langs[k]),
                     answer_rate=answered[k] / spellings[k].total()) for k in top]


def _category_guess(top_ids: list[list[str]], engine: Engine) -> str:
    """The category of the entry most searches came nearest, when more than half agree."""
    entries, by_id = engine.index.entries, engine.index.by_id
    categories = Counter(entries[by_id[ids[0]]].category for ids in top_ids if ids and ids[0] in by_id)
    if categories:
        category, n = categories.most_common(1)[0]
        if 2 * n > len(top_ids):
            return category
    return ""


def _group_out(group: QueryGroup, category: str) -> QueryGroupOut:
    shoppers = "1 shopper" if group.size == 1 else f"{group.size} shoppers"
    return QueryGroupOut(shoppers=group.size, summary=f"{shoppers} asked something like \u201c{group.central}\u201d",
                         langs=group.langs, central=group.central, category=category,
                         phrasings=[PhrasingOut(text=p.text, lang=p.lang, count=p.count) for p in group.phrasings])


def _unanswered(session: Session, since: datetime, engine: Engine, min_shoppers: int, max_phrasings: int,
                tokenizer: Tokenizer) -> tuple[Unanswered, list[NewEntry]]:
    unanswered = and_(Search.created_at >= since, Search.decision == Decision.NO_ANSWER.value)
    total = session.scalar(select(func.count()).select_from(Search).where(unanswered)) or 0
    rows = session.execute(select(Search.query, Search.top_ids).where(unanswered)
                           .order_by(Search.created_at.desc()).limit(MAX_UNANSWERED)).all()
    vectors = engine.index.vectors
    grouping = group_texts([text for text, _ in rows], engine.encoder,
                           language_centres(vectors.phrases, vectors.phrase_lang), max_phrasings=max_phrasings,
                           tokenizer=tokenizer)
    groups: list[QueryGroupOut] = []
    new_entries: list[NewEntry] = []
    taken = set(engine.index.by_id)
    for group in grouping.groups:
        category = _category_guess([rows[i][1] for i in group.members], engine)
        if len(groups) < MAX_GROUPS_SHOWN:
            groups.append(_group_out(group, category))
        draft = draft_entry(group, taken, category, tokenizer) if group.size >= min_shoppers else None
        if draft is not None:
            new_entries.append(NewEntry(shoppers=group.size, phrasings=[p.text for p in group.phrasings],
                                        line=faq_line(draft)))
    return Unanswered(searches=total, grouped=len(rows) - len(grouping.ungrouped), groups=groups), new_entries


def _alternates(session: Session, since: datetime, engine: Engine, cutoff: float,
                tokenizer: Tokenizer) -> list[NewAlternates]:
    unhelpful = aliased(Feedback)
    contradicted = exists().where(unhelpful.query_id == Feedback.query_id, unhelpful.answer_id == Feedback.answer_id,
                                  unhelpful.helpful.is_(False))
    unsure = or_(Search.decision == Decision.CLARIFY.value,
                 and_(Search.decision == Decision.ANSWER.value, Search.top_confidence < cutoff))
    rows = session.execute(select(Search.query_id, Search.query, Feedback.answer_id, Search.created_at).distinct()
                           .join(Feedback, Feedback.query_id == Search.query_id)
                           .where(Search.created_at >= since, Feedback.helpful.is_(True), unsure, ~contradicted)
                           .order_by(Search.created_at.desc()).limit(MAX_CONFIRMED)).all()
    confirmed: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for _, text, entry_id, _ in rows:
        if entry_id in engine.index.by_id:
            confirmed[entry_id][phrasing_key(text, tokenizer)][text] += 1
    out = []
    for entry_id, by_key in confirmed.items():
        counts = {c.most_common(1)[0][0]: c.total() for c in sorted(by_key.values(), key=lambda c: -c.total())}
        entry = engine.index.entries[engine.index.by_id[entry_id]]
        obj, added = with_alternates(entry, counts, tokenizer)
        if added:
            shoppers = sum(counts[text] for texts in added.values() for text in texts)
            out.append(NewAlternates(entry_id=entry_id, added=added, shoppers=shoppers, line=faq_line(obj)))
    return sorted(out, key=lambda a: (-a.shoppers, a.entry_id))


def build_analytics(sessions: sessionmaker[Session], engine: Engine, *, days: int = 30, min_shoppers: int = 3,
                    now: datetime | None = None, max_phrasings: int = MAX_PHRASINGS) -> Analytics:
    """Everything `Analytics` holds, over the last `days` UTC days.

    Args:
        sessions: the session factory.
        engine: the served engine: its entries, encoder (to group unanswered searches) and
            answer threshold.
        days: how many UTC days, today the last.
        min_shoppers: the fewest searches in an unanswered group to propose a new entry for it.
        now: the end of the period (UTC); the clock when omitted.
        max_phrasings: the most distinct unanswered phrasings encoded and grouped.
    """
    span = period(days, now)
    tokenizer = default_tokenizer()
    cutoff = min(1.0, engine.decision_thresholds.answer + UNSURE_MARGIN)
    with sessions() as session:
        totals, daily = _decision_rates(session, span.since)
        unanswered, new_entries = _unanswered(session, span.since, engine, min_shoppers, max_phrasings, tokenizer)
        return Analytics(
            period=span, index_version=engine.index.version, totals=totals, daily=daily,
            helpful=_helpful(session, span.since, engine), never_hit=_never_hit(session, span.since, engine),
            top_queries=_top_queries(session, span.since, tokenizer), unanswered=unanswered,
            suggestions=Suggestions(min_shoppers=min_shoppers, unsure_below=cutoff, new_entries=new_entries,
                                    alternates=_alternates(session, span.since, engine, cutoff, tokenizer)))
