# The same commands CI runs. `make up` runs the main job, `make test` every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test check lint types unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## The main job: embedded LocalStack + topology + workers + sample traffic.
up: $(STAMP)
	$(BIN)/bus up

## Every check: lint, types, then the whole test suite (LocalStack is installed and started by it).
test: $(STAMP) lint types
	$(BIN)/pytest

check: lint types

lint: $(STAMP)
	$(BIN)/ruff check bus tests handlers schemas cli.py bench
	$(BIN)/ruff format --check bus tests handlers schemas cli.py bench

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m 'not aws'

## Benchmarks: bus beside a bare aiobotocore loop, Celery and Dramatiq (docs/benchmarks.md), then
## the other scripts in bench/. `make bench BENCH_ARGS=--quick` for a short trial run.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
