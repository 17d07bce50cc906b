# Two commands set everything up: `make demo` (install + run the local stack on the sample media) and
# `make test` (install what the tests need + run them). PY is the interpreter used to create the venv.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: venv install install-test demo test lint typecheck proto lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Every package comes from a lockfile with exact versions and hashes (requirements/, made by `make lock`
# from pyproject.toml), installed with --no-deps so nothing outside the list is resolved. face_recognition is
# in the list without dlib: its metadata names the dlib sdist (a long compile), and dlib-bin ships the same
# prebuilt module. The project itself is then installed editable without build isolation (setuptools and
# wheel come from the lock too).
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements/serve.txt
	$(PIP) install --no-deps --require-hashes -r requirements/serve.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

# The browser tests need Debian's chromium + chromedriver (root or passwordless sudo installs them; without
# them those tests skip and say why).
$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml requirements/test.txt
	$(PIP) install --no-deps --require-hashes -r requirements/test.txt
	scripts/install-browser.sh || echo "chromium not installed: tests/web browser tests will skip"
	touch $@

# Refresh requirements/*.txt after a change to pyproject's dependencies.
lock: $(BIN)/python
	$(PIP) install uv==0.13.9
	UV=$(BIN)/uv scripts/lock.sh

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/liveness check samples/

test: install-test
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check src services tests
	$(BIN)/ruff format --check src services tests

typecheck: install-test
	$(BIN)/mypy src services

proto: install-test
	$(BIN)/python -m liveness.protogen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
