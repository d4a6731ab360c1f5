# The README's two commands: `make run` (the gateway with config.example.yaml) and `make test`
# (ruff, mypy --strict and pytest). Both set up .venv themselves on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.example.yaml

.PHONY: run test lint typecheck pytest redis-server chromium screenshots clean audit chaos

$(BIN)/bridge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools  # the venv's bundled setuptools has known CVEs
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/bridge
	$(BIN)/bridge serve --config $(CONFIG)

# The tests start their own redis-server on a free port; install Debian's when it is missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server missing: installing Debian's package (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }

# The browser tests drive Debian's Chromium through Playwright, which never downloads a browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "chromium missing: installing Debian's package (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Remake the README's screenshots of the demo and staff pages.
screenshots: $(BIN)/bridge chromium
	BRIDGE_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/browser/test_pages.py

lint: $(BIN)/bridge
	$(BIN)/ruff check bridge tests scripts benchmarks
	$(BIN)/ruff format --check bridge tests scripts benchmarks

typecheck: $(BIN)/bridge
	$(BIN)/mypy

pytest: $(BIN)/bridge redis-server chromium
	$(BIN)/pytest

test: lint typecheck pytest

# Known vulnerabilities in the installed dependencies; scripts/audit.py says how it decides.
audit: $(BIN)/bridge
	$(BIN)/python -m scripts.audit

# Short chaos runs (Redis killed, Zendesk failing and hanging, SIGTERM) and a 45 s soak against
# real gateway processes on 127.0.0.1. The full ones: $(BIN)/python -m scripts.chaos all
chaos: $(BIN)/bridge redis-server
	$(BIN)/python -m scripts.chaos all --ci

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
