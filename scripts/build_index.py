"""Build the search index from an FAQ file (the installed `aurora-build-index`).

    .venv/bin/python scripts/build_index.py --faq data/faq.jsonl --out index [--encoder e5+use]
"""

import sys

from aurora_faq.cli import build_index_main as main

if __name__ == "__main__":
    sys.exit(main())
