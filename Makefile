# Two commands on a fresh machine: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup setup-browser run test lint typecheck bench reliability clean

NODE_STAMP := node_modules/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Azurite (the Azure Storage emulator the object-store tests run), pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the Azure tests: install Node.js 20+ (apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP)

## run: validate, plan and apply the examples to the embedded DuckDB target, then show the lineage
run: setup
	cd examples && ../$(BIN)/lac validate
	cd examples && ../$(BIN)/lac plan
	cd examples && ../$(BIN)/lac apply
	cd examples && ../$(BIN)/lac plan --detailed-exitcode

## setup-browser: Debian's headless Chromium, for the HTML graph's browser test (skipped when present)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup-browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi

## test: the whole suite (unit, contract, emulator, object-store and browser tests)
test: setup setup-browser
	$(BIN)/python -m pytest -q

## reliability: the full reliability and security suite (fault matrix, crash trials, races, 10,000+ fuzz
## cases, secrets, mass-delete guard); prints its figures at the end. make test runs a fast subset.
reliability: setup
	$(BIN)/python -m pytest -q -m 'reliability_full or not reliability_full' tests/reliability

lint: setup
	$(BIN)/ruff check lineage_as_code tests
	$(BIN)/mypy lineage_as_code

clean:
	rm -rf $(VENV) node_modules .pytest_cache examples/.lac build *.egg-info
