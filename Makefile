# Manyi: `make demo` serves the sample data on http://127.0.0.1:8000 (`make demo PORT=8080
# HOST=0.0.0.0` elsewhere), `make test` runs the whole suite. Both create .venv when it is
# missing; `make demo` installs without the dev extra (JupyterLab and the test tools).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test serve lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Manyi needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/manyi demo --host $(HOST) --port $(PORT)

serve: $(VENV)/.installed
	$(BIN)/manyi serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# axe-core, the browser tests' accessibility checks (tests/browser/page_checks.py), at the
# version package-lock.json pins. Reinstalled when the lock changes; without npm the checks
# are skipped with a reason (they are mandatory with CI=true).
AXE := tests/browser/axe
$(AXE)/node_modules/.installed: $(AXE)/package.json $(AXE)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(AXE) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the browser tests' accessibility checks will be skipped"; fi

# The suite waits on servers, browsers and databases more than it computes: two workers on
# two cores keep both busy. A file's tests stay on one worker (--dist loadfile), so that a
# module's server or browser fixture is started once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev $(AXE)/node_modules/.installed
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

bench: $(VENV)/.installed-dev
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf var .pytest_cache
