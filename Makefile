# commshub — one command per job; every target sets itself up (.venv, editable install).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test bench lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/chf demo

test: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks

lint: setup
	$(BIN)/ruff check gbcs chf zigbee hw tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
