# plughost: `make run` sets everything up and runs the demo; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup run test test-quick test-python test-node lint bench clean vendor-charts

setup: $(VENV)/.installed node_modules/.installed sdk-typescript/dist/runner.js

$(VENV)/.installed: pyproject.toml sdk-python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ./sdk-python -e '.[dev,ray]'
	touch $@

node_modules/.installed: package.json package-lock.json sdk-typescript/package.json $(wildcard plugins/*/*/package.json)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

sdk-typescript/dist/runner.js: node_modules/.installed $(shell find sdk-typescript/src plugins -name '*.ts' -not -path '*/node_modules/*' -not -name '*.d.ts' 2>/dev/null)
	npm run build --silent
	touch $@

# The report's charting library (lightweight-charts, pinned in package.json) is committed under
# host/plughost/reports/assets/ so that a pip install needs no npm; refresh it after changing the pin.
vendor-charts: node_modules/.installed
	npm run vendor:charts --silent

run: setup
	$(VENV)/bin/plughost run --batch examples/demo-batch.toml --out plughost-out

test: setup test-python test-node

test-python:
	$(PY) -m pytest -q

test-quick: setup
	$(PY) -m pytest -q -m "not slow"

test-node:
	npm test --silent

lint: setup
	$(VENV)/bin/ruff check host sdk-python tests bench protocol data
	$(VENV)/bin/mypy

bench: setup
	$(PY) bench/rtt.py
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) node_modules sdk-typescript/dist plughost-out .pytest-home
