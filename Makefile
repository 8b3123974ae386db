# Front door of dd_refund_pipeline. Every target creates the virtual environment when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install test lint format emulator

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The whole test suite (needs MariaDB on 127.0.0.1:3306 for the MySQL tests).
test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The Yida emulator on :8787 with 3,000 demo forms.
emulator: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.dingtalk.emulator --port 8787 --instances 3000 --seed 7
