"""The analytics (`storage.analytics.Analytics`) as files: a PNG chart of the daily rates and a
self-contained HTML page, the chart embedded as a data: URI and nothing loaded from elsewhere
(its Content-Security-Policy allows no other source). `scripts/report.py` writes them.

matplotlib is the optional `report` extra, imported only to draw.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from .settings import Settings
from .storage.analytics import Analytics, Rates
from .storage.database import database_url, make_engine, make_sessions
from .storage.models import Search

RATES = (("answer_rate", "answer", "#2a7d4f"), ("clarify_rate", "clarify", "#d08a1e"),
         ("no_answer_rate", "no answer", "#b8382f"))
INSTALL_HINT = 'install the report extra: pip install "aurora-faq[report]"'


class ReportError(Exception):
    """A report that cannot be made as asked; the message says what to do."""


@contextmanager
def stored_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the database `settings` name, as the service left it (never migrated here).

    Raises:
        ReportError: it holds no searches table: the service has not run on it.
    """
    engine = make_engine(database_url(settings.database_url, settings.data_dir))
    try:
        if not inspect(engine).has_table(Search.__tablename__):
            raise ReportError(f"no stored searches at {engine.url.render_as_string(hide_password=True)}: "
                              "start the service on this database first (AURORA_DATABASE_URL, AURORA_DATA_DIR)")
        yield make_sessions(engine)
    finally:
        engine.dispose()


def chart_png(analytics: Analytics) -> bytes:
    """The answer, clarify and no-answer rates a day, one panel a language, as PNG.

    Raises:
        ReportError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ReportError(f"the chart needs matplotlib: {INSTALL_HINT}") from e
    langs = sorted({d.lang for d in analytics.daily}) or [""]
    # A Figure of its own, not pyplot: no global state, no GUI backend.
    figure = Figure(figsize=(8, 2.6 * len(langs)), layout="constrained")
    FigureCanvasAgg(figure)
    for ax, lang in zip(figure.subplots(len(langs), 1, sharex=True, squeeze=False)[:, 0], langs, strict=True):
        days = [d for d in analytics.daily if d.lang == lang]
        for field, label, colour in RATES:
            ax.plot([d.day for d in days], [getattr(d, field) for d in days], marker="o", label=label, color=colour)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of searches")
        ax.set_title(f"{lang}: {sum(d.searches for d in days)} searches" if lang else "no searches in the period")
        ax.grid(alpha=0.3)
        if days:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    figure.autofmt_xdate()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "<p class=none>None.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, list | tuple):
        return "<br>".join(html.escape(str(v)) for v in value)
    return html.escape(str(value))


def _lines(lines: Sequence[str]) -> str:
    if not lines:
        return "<p class=none>None.</p>"
    return "<pre>" + "\n".join(html.escape(line) for line in lines) + "</pre>"


def _rates_row(r: Rates) -> list[Any]:
    return [r.lang, r.searches, r.answer_rate, r.clarify_rate, r.no_answer_rate]


_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; padding: .75rem; overflow-x: auto; white-space: pre; }
img { max-width: 100%; }
.none, .note { color: #666; }
"""


def render_html(analytics: Analytics, chart: bytes | None) -> str:
    """The whole report as one HTML page.

    Args:
        analytics: what to show (stored text: masked when written; escaped here).
        chart: `chart_png`'s bytes, embedded; None for a page without the chart.
    """
    a, s = analytics, analytics.suggestions
    rate = ["lang", "searches", "answered", "clarified", "unanswered"]
    chart_html = (f'<img alt="daily answer, clarify and no-answer rates" '
                  f'src="data:image/png;base64,{base64.b64encode(chart).decode()}">' if chart is not None
                  else f"<p class=note>No chart: {html.escape(INSTALL_HINT)}.</p>")
    sections = [
        f"<h1>Aurora FAQ report</h1><p>{a.period.days} UTC day(s), {a.period.since:%Y-%m-%d} to "
        f"{a.period.until:%Y-%m-%d %H:%M} UTC; index {html.escape(a.index_version)}.</p>",
        "<h2>Searches</h2>" + _table(rate, [_rates_row(r) for r in a.totals]) + chart_html,
        "<h2>By day</h2>" + _table(["day", *rate], [[d.day, *_rates_row(d)] for d in a.daily]),
        f"<h2>Unanswered, grouped by meaning</h2><p>{a.unanswered.searches} unanswered search(es), "
        f"{a.unanswered.grouped} grouped.</p>"
        + _table(["shoppers", "summary", "phrasings (searches)", "languages", "category guess"],
                 [[g.shoppers, g.summary, [f"{p.text} ({p.count})" for p in g.phrasings], ", ".join(g.langs),
                   g.category] for g in a.unanswered.groups]),
        f"<h2>Suggested new entries</h2><p class=note>Groups of at least {s.min_shoppers} shopper(s); write each "
        "answer before adding the line to data/faq.jsonl.</p>" + _lines([e.line for e in s.new_entries]),
        f"<h2>Suggested alternates</h2><p class=note>Phrasings of clarified or unsure answers (confidence below "
        f"{s.unsure_below:.2f}) that shoppers marked helpful; each line replaces the entry's line in "
        "data/faq.jsonl.</p>" + _lines([e.line for e in s.alternates]),
        "<h2>Helpful rate by entry</h2>" + _table(["entry", "category", "helpful", "not helpful", "rate"],
                                                  [[h.entry_id, h.category, h.helpful, h.unhelpful, h.helpful_rate]
                                                   for h in a.helpful]),
        "<h2>Entries never the answer</h2>" + _table(["entry", "category", "question"],
                                                     [[e.id, e.category, list(e.question.values())]
                                                      for e in a.never_hit]),
        "<h2>Top queries</h2>" + _table(["query", "searches", "languages", "answered"],
                                        [[q.text, q.searches, ", ".join(q.langs), q.answer_rate]
                                         for q in a.top_queries]),
    ]
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>Aurora FAQ report</title><style>{_STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")
