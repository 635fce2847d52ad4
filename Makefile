# The two commands of the README. Each creates .venv and installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium bytecode

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# An editable install writes no bytecode, and PYTHONDONTWRITEBYTECODE (set on some machines)
# stops Python writing it on import: every command would compile halfrate's modules again. A
# wheel install compiles them; this does the same for the checkout (only what changed).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src >/dev/null

demo: bytecode
	$(BIN)/halfrate demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The browser tests drive Debian's Chromium (never a browser Playwright downloads).
chromium:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

test: lint chromium bytecode
	$(BIN)/pytest

# Every benchmark in bench/, one after another (each prints its figures and its ratio to a
# baseline measured in the same run).
bench: bytecode
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
