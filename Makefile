# Two commands do all of the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Downloads (pip wheels, later Maven and Debian artifacts) are cached outside the repo.
export PAGEVIEWS_CACHE ?= $(HOME)/.cache/pageviews
export PIP_CACHE_DIR ?= $(PAGEVIEWS_CACHE)/pip

.PHONY: run test test-fast lint typecheck install install-dev browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps re-run pip only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dashboard]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dashboard,dev,kafka]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The embedded pipeline on the live generator; Ctrl-C stops it, the same command resumes.
run: install
	$(BIN)/pageviews run $(ARGS)

# The dashboard's browser test drives Debian's Chromium; Playwright never downloads a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install-dev
	$(BIN)/mypy

# Every tier: unit, e2e, browser and the real stack (tiers: tests/conftest.py).
test: lint typecheck browser
	$(BIN)/pytest -q -ra

# What needs no service and no browser (the unit and e2e tiers): a few minutes at most.
test-fast: lint typecheck
	$(BIN)/pytest -q -ra -m "not stack and not browser"

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
