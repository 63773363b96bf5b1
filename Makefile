# plughost: `make run` sets everything up and runs the demo; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Wheels and editable installs of this checkout require the Python SDK by version (see setup.py).
export PLUGHOST_SDK_REQUIREMENT := plughost-sdk==0.1.0

.PHONY: setup sandbox-tools bytecode run test test-quick test-python test-node test-deps lint bench wheel clean vendor-charts

setup: $(VENV)/.installed node_modules/.installed sdk-typescript/dist/runner.js sandbox-tools bytecode

# The host's, the SDK's and the examples' bytecode, written once: where PYTHONDONTWRITEBYTECODE is set (as on
# the project's machines) Python would otherwise compile every module again at every `plughost` command and
# every plugin start (~0.1 s of CPU each). Stale files are simply not used (Python checks the source's mtime).
# The report templates' bytecode likewise (~0.1 s of every run page; checked by the templates' checksums).
bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q -j 0 -x '/node_modules/' host/plughost sdk-python/src plugins >/dev/null
	@$(PY) -c "from plughost.reports.pages import precompile_templates; precompile_templates()"

# --sandbox uses bubblewrap; installed where the system allows (root and apt), never required by setup.
sandbox-tools:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1; }; }; } || \
	  echo "note: bubblewrap (bwrap) is not installed; plughost run --sandbox will report SANDBOX_UNAVAILABLE"

$(VENV)/.installed: pyproject.toml sdk-python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ./sdk-python -e '.[dev]'
	touch $@

# Ray is an optional engine (`pip install 'plughost[ray]'`): only the test target installs it, for its tests.
$(VENV)/.ray-installed: $(VENV)/.installed
	$(PIP) install --quiet -e '.[ray]'
	touch $@

test-deps: $(VENV)/.ray-installed

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

test: setup test-deps test-python test-node

test-python:
	$(PY) -m pytest -q

test-quick: setup
	$(PY) -m pytest -q -m "not slow"

test-node:
	npm test --silent

lint: setup
	$(VENV)/bin/ruff check host sdk-python tests bench protocol data setup.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/rtt.py
	$(PY) bench/throughput.py

# The wheels a user installs anywhere (`pip install dist/*.whl`): plughost with the Node runner and the
# example plugins inside (setup.py copies them), and plughost-sdk, which it depends on.
wheel: setup
	$(PIP) wheel --quiet --no-deps -w dist . ./sdk-python
	rm -rf build sdk-python/build

clean:
	rm -rf $(VENV) node_modules sdk-typescript/dist plughost-out .pytest-home dist build
