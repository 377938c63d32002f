# Two commands on a fresh machine: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

LOCK   := requirements.lock
UV     := uv==0.13.8

.PHONY: setup setup-node install setup-browser run test test-latest lint lock bench reliability clean

NODE_STAMP := node_modules/.installed

# Exact versions with hashes from the lock the repository carries, so a new machine gets what CI got.
# The package's own ranges in pyproject.toml stay open for people who install it as a library.
$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Azurite (the Azure Storage emulator the object-store tests run), pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the Azure tests: install Node.js 20+ (apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: $(STAMP)

setup-node: $(NODE_STAMP)

install: setup

## run: validate, plan and apply the examples to the embedded DuckDB target, then show the lineage
run: setup
	cd examples && ../$(BIN)/lac validate
	cd examples && ../$(BIN)/lac plan
	cd examples && ../$(BIN)/lac apply --auto-approve
	cd examples && ../$(BIN)/lac plan --detailed-exitcode
	cd examples && ../$(BIN)/python -c "import duckdb; print(duckdb.connect('.lac/lineage.duckdb', read_only=True).sql(open('downstream.sql').read()))"
	cd examples && ../$(BIN)/lac graph --format html --out .lac/lineage.html
	@echo "Lineage is in examples/.lac/lineage.duckdb (query it with SQL, see README) and examples/.lac/lineage.html"

## setup-browser: Debian's headless Chromium, for the HTML graph's browser test (skipped when present)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup-browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi

## test: the whole suite (unit, contract, emulator, object-store and browser tests)
test: setup setup-node setup-browser lint
	$(BIN)/python -m pytest -q

## test-latest: the suite against the newest releases the open ranges allow (not in CI), so an upstream
## change is seen the day it ships; uses its own venv and leaves the locked one alone
test-latest: setup-node setup-browser
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade -e '.[test]'
	.venv-latest/bin/python -m pytest -q

## lock: regenerate requirements.lock (every platform, hashes) from pyproject.toml
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet $(UV)
	.venv-lock/bin/uv pip compile pyproject.toml --extra test --generate-hashes --universal \
		--python-version 3.11 --no-header --quiet -o $(LOCK)
	rm -rf .venv-lock

## reliability: the full reliability and security suite (fault matrix, crash trials, races, 10,000+ fuzz
## cases, secrets, mass-delete guard); prints its figures at the end. make test runs a fast subset.
reliability: setup setup-node
	$(BIN)/python -m pytest -q -m 'reliability_full or not reliability_full' tests/reliability

lint: setup
	$(BIN)/ruff check lineage_as_code tests bench
	$(BIN)/mypy lineage_as_code

## bench: scale, no-op re-plan and DuckDB apply figures against a floor, HTML graph build times (see bench/README.md)
bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/requests.py
	$(BIN)/python bench/graph.py
	$(BIN)/python bench/datahub_peer.py --column-edges 100000

clean:
	rm -rf $(VENV) .venv-latest .venv-lock node_modules .pytest_cache examples/.lac build *.egg-info
