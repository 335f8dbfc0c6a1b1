"""Write the analytics report from the service's database and index, as the service is
configured (AURORA_DATABASE_URL or AURORA_DATA_DIR, AURORA_INDEX_PATH, AURORA_ENCODER).

    .venv/bin/python scripts/report.py [--days 30] [--min-shoppers 3] [--html report.html]
        [--png rates.png] [--json analytics.json] [--max-grouped 200]

With none of --html, --png, --json it writes report.html. The PNG chart (and the one the HTML
embeds) needs matplotlib: pip install "aurora-faq[report]".
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from threadpoolctl import threadpool_limits

from app.report import ReportError, chart_png, render_html, stored_sessions
from app.serving import load_engine
from app.settings import Settings
from app.storage.analytics import build_analytics
from aurora_faq.errors import IndexUnavailableError
from aurora_faq.grouping import MAX_PHRASINGS


def _between(low: int, high: int) -> Callable[[str], int]:
    def check(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is not between {low} and {high}")
        return number

    return check


def main(argv: list[str] | None = None) -> int:
    """Returns the exit status: 0 written, 2 nothing to report from or a chart without matplotlib."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=_between(1, 365), default=30, help="UTC days to cover, today the last")
    parser.add_argument("--min-shoppers", type=_between(1, 10_000), default=3,
                        help="fewest searches to propose a new entry")
    parser.add_argument("--html", type=Path, help="the self-contained HTML report")
    parser.add_argument("--png", type=Path, help="the daily rates chart")
    parser.add_argument("--json", type=Path, help="the analytics as /v1/admin/analytics returns them")
    parser.add_argument("--max-grouped", type=_between(1, 100_000), default=MAX_PHRASINGS,
                        help="most distinct unanswered phrasings to group (each is encoded)")
    args = parser.parse_args(argv)
    if not (args.html or args.png or args.json):
        args.html = Path("report.html")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = Settings()
    # One BLAS thread, as the service runs the encoder (app/main.py).
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            engine = load_engine(settings)
            with stored_sessions(settings) as sessions:
                analytics = build_analytics(sessions, engine, days=args.days, min_shoppers=args.min_shoppers,
                                            max_phrasings=args.max_grouped)
        except (IndexUnavailableError, ReportError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    chart = None
    if args.png or args.html:
        try:
            chart = chart_png(analytics)
        except ReportError as e:
            if args.png:
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"note: the HTML has no chart ({e})", file=sys.stderr)
    if args.json:
        args.json.write_text(analytics.model_dump_json(indent=2), encoding="utf-8")
    if args.png:
        assert chart is not None
        args.png.write_bytes(chart)
    if args.html:
        args.html.write_text(render_html(analytics, chart), encoding="utf-8")
    for path in (args.html, args.png, args.json):
        if path:
            print(f"wrote {path}")
    print(f"{sum(r.searches for r in analytics.totals)} searches, {analytics.unanswered.searches} unanswered in "
          f"{len(analytics.unanswered.groups)} group(s); {len(analytics.suggestions.new_entries)} new entries and "
          f"{len(analytics.suggestions.alternates)} alternate lines suggested")
    return 0


if __name__ == "__main__":
    sys.exit(main())
