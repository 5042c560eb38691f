# The one entry point for people: `make run`, `make test`, `make bench`, `make lint`.
# `make lint` is ruff (lint and format) and mypy on the services.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-reports lint proto install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tollgate up

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

# A month's report over ten million ledger rows on PostgreSQL (a few minutes); not part
# of `make bench`. BENCH_REPORTS_ARGS="--rows 1000000 --database-url ..." to change.
bench-reports: $(STAMP)
	$(BIN)/python bench/reports.py $(BENCH_REPORTS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tollgate services tests bench
	$(BIN)/ruff format --check tollgate services tests bench
	$(BIN)/mypy services tollgate

proto: $(STAMP)
	$(BIN)/python -m tollgate.protogen

clean:
	rm -rf $(VENV) .tollgate
