# The README's two commands: `make run` (the gateway with config.example.yaml) and `make test`
# (ruff, mypy --strict and pytest). Both set up .venv themselves on first use.
#
# Two sets of dependencies, each installed from a lock file (exact pins with hashes, for CPython
# 3.11 on Linux) and each marked done by a stamp file in .venv, remade when pyproject.toml or its
# lock changes:
#   requirements.lock      the [project] dependencies only: `make run` and deploy/Dockerfile
#   requirements-dev.lock  the same pins plus the `dev` extra: every other target
# and requirements-build.lock, what building the gateway's own wheel needs (setuptools), for
# deploy/Dockerfile.
# `make run` after `make test` (or the reverse) reuses the one .venv (dev tools, once there, stay);
# pins shared by the two locks are identical (tests/ops/test_lock.py checks that, and that both
# agree with pyproject.toml).
#
# To regenerate the locks after changing dependencies in pyproject.toml (pip-tools lives in a
# throwaway venv, never in .venv; existing pins are kept where they still fit):
#   python3 -m venv /tmp/piptools && /tmp/piptools/bin/pip install pip-tools
#   make lock PIPCOMPILE=/tmp/piptools/bin/pip-compile
# (not PIP_COMPILE: pip takes any PIP_* variable as an option). To move every pin to the newest
# releases: make lock PIPCOMPILE=... LOCK_FLAGS=--upgrade; then `make test` and `make audit`.
# The dev lock warns that pip is not pinned: pip-audit needs it, and the venv always has it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.example.yaml
READY := $(VENV)/.ready
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
PIPCOMPILE ?= pip-compile
LOCK_FLAGS ?=

.PHONY: run test lint typecheck pytest redis-server chromium kubectl promtool node js-deps screenshots clean \
	audit chaos lock

$(READY):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools  # the venv's bundled setuptools has known CVEs
	touch $@

# The pins (hashes checked) first, then the project itself without resolving anything again;
# `pip check` fails when a lock misses something the project needs.
$(RUNTIME): pyproject.toml requirements.lock | $(READY)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

$(DEV): pyproject.toml requirements.lock requirements-dev.lock | $(READY)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

run: $(RUNTIME)
	$(BIN)/bridge serve --config $(CONFIG)

# Pip's own configuration is ignored (a local mirror's hashes may cover only this machine's
# wheels) and no index or find-links line is written into the locks.
LOCK_ENV := env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS -u PIP_CONSTRAINT \
	PIP_CONFIG_FILE=/dev/null
LOCK_OPTIONS := --quiet --strip-extras --generate-hashes --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host $(LOCK_FLAGS)

lock:
	$(LOCK_ENV) $(PIPCOMPILE) $(LOCK_OPTIONS) --output-file requirements.lock pyproject.toml
	$(LOCK_ENV) $(PIPCOMPILE) $(LOCK_OPTIONS) --extra dev --constraint requirements.lock \
	  --output-file requirements-dev.lock pyproject.toml
	$(LOCK_ENV) $(PIPCOMPILE) $(LOCK_OPTIONS) --allow-unsafe --build-deps-for wheel \
	  --only-build-deps --output-file requirements-build.lock pyproject.toml

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

# tests/ops/test_deploy.py renders the Kubernetes kustomizations with `kubectl kustomize`.
kubectl:
	@command -v kubectl >/dev/null 2>&1 || { \
	  echo "kubectl missing: installing Debian's kubernetes-client (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq kubernetes-client >/dev/null; }

# tests/monitoring runs the alert rules through promtool, which Debian's prometheus package
# ships (its server is not started: nothing here needs it).
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "promtool missing: installing Debian's prometheus package (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# tests/js packs js/ with npm and type-checks its users' code with TypeScript, pinned by
# js/package-lock.json (versions and hashes; npm ci fetches them from the configured registry).
node:
	@{ command -v node && command -v npm; } >/dev/null 2>&1 || { \
	  echo "node or npm missing: installing Debian's nodejs and npm (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }

JS_DEPS := js/node_modules/.package-lock.json
$(JS_DEPS): js/package.json js/package-lock.json | node
	cd js && npm ci --no-audit --no-fund

js-deps: $(JS_DEPS)

# Remake the README's screenshots of the demo and staff pages.
screenshots: $(DEV) chromium
	BRIDGE_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/browser/test_pages.py tests/browser/test_staff_tools.py

lint: $(DEV)
	$(BIN)/ruff check bridge tests scripts benchmarks
	$(BIN)/ruff format --check bridge tests scripts benchmarks

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV) redis-server chromium kubectl promtool $(JS_DEPS)
	$(BIN)/pytest

test: lint typecheck pytest

# Known vulnerabilities in the installed dependencies; scripts/audit.py says how it decides.
audit: $(DEV)
	$(BIN)/python -m scripts.audit

# Short chaos runs (Redis killed, Zendesk failing and hanging, SIGTERM) and a 45 s soak against
# real gateway processes on 127.0.0.1. The full ones: $(BIN)/python -m scripts.chaos all
chaos: $(DEV) redis-server
	$(BIN)/python -m scripts.chaos all --ci

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache js/node_modules js/dist
