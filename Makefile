# Two commands set everything up: `make demo` (install + run the local stack on the sample media) and
# `make test` (install what the tests need + run them). PY is the interpreter used to create the venv.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: venv install install-test demo test lint typecheck proto clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install "setuptools>=77.0.1,<81" wheel

# face_recognition is installed with --no-deps: its metadata names the dlib sdist (a long compile), and
# dlib-bin, a dependency of this package, ships the same prebuilt module.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) install -e .
	$(PIP) install --no-deps face_recognition==1.3.0
	touch $@

# The browser tests need Debian's chromium + chromedriver (root or passwordless sudo installs them; without
# them those tests skip and say why).
$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -e ".[test,train]"
	scripts/install-browser.sh || echo "chromium not installed: tests/web browser tests will skip"
	touch $@

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
