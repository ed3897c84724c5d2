# Engage: `make run` starts a local Engage, `make test` runs the whole suite. See README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

# Installs are redone only when a requirements file changes (the stamps are older than it).
VENV_CFG := $(VENV)/pyvenv.cfg
RUN_STAMP := $(VENV)/.requirements.stamp
DEV_STAMP := $(VENV)/.requirements-dev.stamp
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench clean assets

help:
	@echo "make run      start Engage (web server and worker) on http://127.0.0.1:$(PORT)/ until Ctrl-C"
	@echo "make test     run the whole test suite (SQLite; PostgreSQL when DATABASE_URL points at one)"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make bench    run every bench/*.py"
	@echo "make install  create or update .venv with the development requirements"
	@echo "make assets   rebuild the journey editor's bundle (static/journeys/editor.js, .css) with Node.js"
	@echo "make clean    remove .venv, caches and collected static files (var/ is kept)"

$(VENV_CFG):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt $(VENV_CFG)
	$(PIP) install -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt requirements.txt $(VENV_CFG)
	$(PIP) install -r requirements-dev.txt
	@touch $@

install: $(DEV_STAMP)

# A local run needs no SECRET_KEY: DEBUG=1 unless the caller says otherwise.
run: export DEBUG ?= 1
run: export PORT := $(PORT)
run: $(RUN_STAMP)
	@mkdir -p "$${ENGAGE_VAR_DIR:-var}"
	$(BIN)/python manage.py migrate --noinput
	@case "$$(echo "$$DEBUG" | tr A-Z a-z)" in 1|true|yes|on) ;; \
		*) $(BIN)/python manage.py collectstatic --noinput --verbosity 0 ;; esac
	$(BIN)/python manage.py sync_schedules
	$(BIN)/python manage.py seed_demo
	@echo "Starting the web server on http://127.0.0.1:$(PORT)/ and the worker; Ctrl-C stops both."
	bin/run

test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(DEV_STAMP)
	@set -e; scripts="$$(ls bench/[!_]*.py 2>/dev/null || true)"; \
	if [ -z "$$scripts" ]; then echo "No benchmarks yet: add one script per workload as bench/<name>.py."; exit 0; fi; \
	for script in $$scripts; do echo "==> $$script"; PYTHONPATH=$(CURDIR) $(BIN)/python "$$script"; done

# The journey editor's script is built from journeys/editor/ and committed, so only changing the
# editor needs Node.js (npm ci installs the versions package-lock.json pins).
assets:
	cd journeys/editor && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "Kept var/ (the local database and admin password); delete it to start over."
