"""Score an FAQ + labelled query set through the same search path as /v1/search (the
installed `aurora-evaluate`).

    .venv/bin/python scripts/evaluate.py --faq FILE --queries FILE [--encoder NAME]
        [--json OUT] [--report OUT.md] [--leave-gold-out] [--url http://127.0.0.1:8000]
"""

import sys

from aurora_faq.cli import evaluate_main as main

if __name__ == "__main__":
    sys.exit(main())
