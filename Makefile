# Mind-Links — `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-sqlite test-postgres lint bench install browser pdf-fonts clean

$(UV):
	@echo "installing uv $(UV_VERSION) into $(TOOLS)/"
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	@$(UV) sync --frozen --quiet
	@touch $@

install: .venv/.synced

# Debian's chromium drives the browser tests (Playwright never downloads one).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core) >/dev/null; \
	  else \
	    echo "chromium is missing: install Debian's 'chromium' package (the browser tests will fail without it)"; \
	  fi; \
	fi

# Contract PDFs are rendered by WeasyPrint (Pango) and must show names in any
# script: Debian's Noto CJK fonts cover Chinese, Japanese and Korean names, and
# HarfBuzz's subsetter embeds only the glyphs used (fontTools, the fallback, takes
# seconds on a CJK font).
PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk fonts-dejavu-core
pdf-fonts:
	@if ! fc-list 2>/dev/null | grep -q "Noto Sans CJK" || ! ldconfig -p | grep -q libharfbuzz-subset; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's Pango and Noto CJK fonts for contract PDFs"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_PACKAGES) \
	      || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_PACKAGES))) >/dev/null; \
	  else \
	    echo "install Debian's $(PDF_PACKAGES) (contract PDFs need them)"; \
	  fi; \
	fi

run: install pdf-fonts
	@$(UV) run --frozen mindlinks demo
	@$(UV) run --frozen mindlinks serve --host $(HOST) --port $(PORT)

test: install browser pdf-fonts test-sqlite test-postgres

test-sqlite: install
	@echo "== test suite on SQLite =="
	@$(UV) run --frozen pytest -q

test-postgres: install
	@echo "== test suite on PostgreSQL ($(TEST_PG_URL)) =="
	@MINDLINKS_TEST_DATABASE_URL=$(TEST_PG_URL) $(UV) run --frozen pytest -q -m "not browser"

lint: install
	@$(UV) run --frozen ruff check src tests bench
	@$(UV) run --frozen ruff format --check src tests bench
	@$(UV) run --frozen mypy src

bench: install
	@$(UV) run --frozen python -m bench.run_all

clean:
	rm -rf .venv $(TOOLS) var
