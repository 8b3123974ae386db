# Front door of dd_refund_pipeline. Every target creates the virtual environment when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# The form the table commands act on, and the form a new one is shaped like.
FORM ?= fktk_refund
LIKE ?= fktk_refund

.PHONY: install run dev test faults bench bench-quick lint check format emulator schema adopt add-form form-table test-fast

# Every package the image's lock pins at the lock's version (its hashes stripped: an editable
# install cannot be hash-checked), so that the tests and benchmarks run what is deployed.
$(STAMP): pyproject.toml deploy/requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' deploy/requirements.lock > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e ".[dev]"
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
## DD_REFUND_DATABASE_URL (hc_dd_fktk; another form: make schema FORM=fybx_expense).
schema: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.load.create_tables --form $(FORM) $(ARGS)

## Take over an existing hc_dd_fktk in DD_REFUND_DATABASE_URL: a read-only plan; carry it out
## with `make adopt ARGS=--apply`.
adopt: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.load.adopt --form $(FORM) $(ARGS)

## A new form's files from what Yida says it is (spec, table DDL, defs.yaml), then what is left
## to decide: make add-form FORM_UUID=FORM-… NAME=<lower_case> [TABLE=hc_dd_…]. Without
## FORM_UUID: the app's process forms. Needs the app's credentials (README, "Configuration").
add-form: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.forms.scaffold new --like $(LIKE) $(if $(FORM_UUID),--form-uuid $(FORM_UUID)) $(if $(NAME),--name $(NAME)) $(if $(TABLE),--table $(TABLE)) $(ARGS)

## The new form's table DDL again, from its edited spec: make form-table NAME=<name>.
form-table: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.forms.scaffold table --name $(NAME)

## The whole test suite (needs MariaDB on 127.0.0.1:3306 and PostgreSQL on 127.0.0.1:5432).
test: $(STAMP)
	$(BIN)/pytest -q -m "not faults"

## The orchestration faults that take minutes (a run SIGKILLed mid-load and mid-scan on the
## deployed topology, MariaDB away past the retries), each printing its time to recovery; not
## part of make test.
faults: $(STAMP)
	$(BIN)/pytest -q -s -m faults

## The fast tier, about a minute: spec, transform, day files, the client against the emulator,
## on SQLite (no MariaDB, no Dagster processes, no fault drills).
test-fast: $(STAMP)
	DD_REFUND_PROPERTY_SCALE=0.2 $(BIN)/pytest -q -m "not whole_suite"

## Benchmarks (need MariaDB on 127.0.0.1:3306).
bench: $(STAMP)
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/load_bench.py

## Both benchmarks once, small: proves they still run (CI does), not how fast.
bench-quick: $(STAMP)
	$(BIN)/python bench/sync_bench.py --quick
	$(BIN)/python bench/load_bench.py --quick

## ruff (style and docstrings), mypy (types), the import contracts (lint-imports) and
## `dg check defs`.
lint: $(STAMP) check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## The code location loads (dg check defs), with nothing configured.
check: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The Yida emulator on :8787 with 3,000 demo forms.
emulator: $(STAMP)
	$(BIN)/python -m dd_refund_pipeline.dingtalk.emulator --port 8787 --instances 3000 --seed 7
