# Front door of dd_refund_pipeline. Every target creates the virtual environment when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run dev test bench lint check format emulator schema adopt

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded defaults: emulator + last 25 days into SQLite (or
## DD_REFUND_DATABASE_URL), then a summary.
run: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.demo run

## The Dagster UI (dg dev) on http://127.0.0.1:$(PORT) with the emulator on $(EMULATOR_PORT).
PORT ?= 3000
EMULATOR_PORT ?= 8787
dev: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.demo dev --port $(PORT) --emulator-port $(EMULATOR_PORT)

## Create (or verify) a form's table, its rejects table and its sync state in
## DD_REFUND_DATABASE_URL (hc_dd_fktk; another form: make schema ARGS="--form fybx_expense").
schema: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.refunds.create_tables $(ARGS)

## Take over an existing hc_dd_fktk in DD_REFUND_DATABASE_URL: a read-only plan; carry it out
## with `make adopt ARGS=--apply`.
adopt: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.refunds.adopt $(ARGS)

## The whole test suite (needs MariaDB on 127.0.0.1:3306 and PostgreSQL on 127.0.0.1:5432).
test: $(STAMP)
	$(BIN)/pytest -q

## Benchmarks (need MariaDB on 127.0.0.1:3306).
bench: $(STAMP)
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/load_bench.py

## ruff (style and docstrings), mypy (types) and `dg check defs`.
lint: $(STAMP) check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The code location loads (dg check defs), with nothing configured.
check: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The Yida emulator on :8787 with 3,000 demo forms.
emulator: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.dingtalk.emulator --port 8787 --instances 3000 --seed 7
