# fincrm: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test setup assets check pytest lint serve clean messages

setup: $(BIN)/fincrm assets

$(BIN)/fincrm: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(BIN)/uv sync --quiet --frozen --inexact --extra dev
	@touch $(BIN)/fincrm

assets: build/static/vendor/.built

build/static/vendor/.built: package.json package-lock.json scripts/build-assets.mjs
	@npm ci --silent --no-audit --no-fund
	@npm run --silent build
	@touch $@

demo: setup
	@$(BIN)/fincrm migrate --no-input -v 0
	@$(BIN)/fincrm demo-data
	@# The worker and the scheduler run beside the server and stop (SIGTERM) when it exits.
	@$(BIN)/fincrm worker & worker=$$!; \
	$(BIN)/fincrm scheduler & scheduler=$$!; \
	trap 'kill $$worker $$scheduler 2>/dev/null; wait $$worker $$scheduler' EXIT; \
	echo "fincrm is running at http://127.0.0.1:8000 with its worker and scheduler (Ctrl-C to stop)"; \
	$(BIN)/fincrm runserver 127.0.0.1:8000 --noreload

lint: setup
	$(BIN)/ruff format --check fincrm tests bench
	$(BIN)/ruff check fincrm tests bench
	$(BIN)/mypy fincrm
	$(BIN)/lint-imports
	$(BIN)/fincrm makemigrations --check --dry-run -v 1

# The suite runs on SQLite, then again on PostgreSQL when FINCRM_TEST_DATABASE_URL is set.
# Browser tests run once: in the PostgreSQL pass when there is one, else in the SQLite pass.
pytest: setup
	@bash scripts/run-tests.sh

test: lint pytest

messages: setup
	cd fincrm && ../$(BIN)/fincrm makemessages -l zh_Hans --no-obsolete --no-location && ../$(BIN)/fincrm compilemessages -l zh_Hans

clean:
	rm -rf $(VENV) node_modules build staticfiles
