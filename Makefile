# Two commands matter: `make run` (the embedded default) and `make test`.
# Everything is installed from uv.lock into .venv; uv itself comes from PyPI into .tools.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench audit clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	touch $@

run: $(VENV)/.synced
	$(BIN)/helpdesk start

lint: $(VENV)/.synced
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(VENV)/.synced
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: $(VENV)/.synced
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache

# Security scanning (docs/security-monitoring.md): bandit on src/, then the locked dependencies
# with pip-audit, or offline with `make audit OSV=path/to/osv-export(.zip)`. Exit 3 = some
# packages could NOT be audited (e.g. the vulnerability service is unreachable): not clean.
audit: $(VENV)/.synced
	$(BIN)/bandit -q -c pyproject.toml -r src -ll -ii
	$(BIN)/helpdesk vuln-scan --uv $(UV) $(if $(OSV),--osv $(OSV))
