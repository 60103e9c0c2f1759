# make demo   install and run the main job on the sample content (SQLite, outbox)
# make test   install with dev dependencies and run the whole test suite
# make check  ruff, ruff format --check, mypy, then the tests
# make bench  speed and memory figures
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q -c constraints.txt
ISSUE ?= 2016-q3

.PHONY: demo test check lint typecheck bench golden browser spreadsheet constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.app: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.app
	$(PIP) -e '.[dev]'
	touch $@

demo: $(VENV)/.app
	$(BIN)/newsletter db upgrade
	$(BIN)/newsletter content sync
	$(BIN)/newsletter build $(ISSUE)
	@echo
	@echo "Open build/$(ISSUE)/index.html in a browser; the plain-text part is build/$(ISSUE)/index.txt."

# Debian's Chromium renders screenshots and drives browser tests.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing Debian's chromium and chromium-driver"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# Debian's LibreOffice Calc opens the CSV export as a spreadsheet would (formula injection test);
# without it that one test is skipped, so a failed install is a warning, not a failure.
spreadsheet:
	@if ! command -v soffice >/dev/null; then \
	  echo "installing Debian's libreoffice-calc-nogui"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null) \
	    || echo "warning: LibreOffice not installed; the spreadsheet test will be skipped"; \
	fi

test: $(VENV)/.dev browser spreadsheet
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check newsletter tests bench
	$(BIN)/ruff format --check newsletter tests bench

typecheck: $(VENV)/.dev
	$(BIN)/mypy newsletter tests bench

check: lint typecheck test

BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

bench: $(VENV)/.dev
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/send.py 200000 --runs 3
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
	  $(BIN)/python bench/send.py 200000 --runs 3 --database-url $(BENCH_DATABASE_URL); \
	else echo "PostgreSQL is not answering: the send on PostgreSQL skipped"; fi
	$(BIN)/python bench/transport.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/bomb.py
	$(BIN)/python bench/signup.py
	$(BIN)/python bench/signup.py --worker-in-server
	$(BIN)/python bench/email_job_cpu.py
	$(BIN)/python bench/rate_limits.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/webhook.py --runs 5
	$(BIN)/python bench/dashboard.py --runs 3
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
	  $(BIN)/python bench/dashboard.py --runs 3 --database-url $(BENCH_DATABASE_URL); \
	else echo "PostgreSQL is not answering: the dashboard on PostgreSQL and the 1,000,000-row list skipped"; fi
	$(BIN)/python bench/dashboard_preview.py

# Rewrite the golden files of the sample issue after an intended change of output.
golden: $(VENV)/.dev
	$(BIN)/python -m tests.golden

constraints: $(VENV)/.dev
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) build outbox .pytest_cache .mypy_cache .ruff_cache
