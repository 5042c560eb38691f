# The one entry point for people: `make run`, `make test`, `make bench`, `make lint`.
# `make lint` is ruff (lint and format) and mypy on the services.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The tests run in two workers (pytest-xdist), a test module to a worker: its suite
# fixtures stay together, and each worker hands out ports from a band of its own.
# PYTEST_ARGS="-n 0" runs them in this process.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test bench bench-soak bench-reports lint proto install clean

# The first run installs about a hundred packages (a minute or two): pip shows each
# one and its progress, so a new user sees it working.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "tollgate: installing the project and its dependencies into $(VENV) (first run only)"
	$(BIN)/pip install --progress-bar on --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "tollgate: installed into $(VENV)"

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tollgate up

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Ten minutes of steady load, the suite's RSS read each minute: under 400 MB after
# 20,000 calls and flat over the second half. BENCH_SOAK_ARGS="--minutes 3" to change.
bench-soak: $(STAMP)
	$(BIN)/python bench/soak.py $(BENCH_SOAK_ARGS)

# A month's report over ten million ledger rows on PostgreSQL (a few minutes); not part
# of `make bench`. BENCH_REPORTS_ARGS="--rows 1000000 --database-url ..." to change.
bench-reports: $(STAMP)
	$(BIN)/python bench/reports.py $(BENCH_REPORTS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tollgate tollgate_mocks services tests bench
	$(BIN)/ruff format --check tollgate tollgate_mocks services tests bench
	$(BIN)/mypy services tollgate tollgate_mocks

proto: $(STAMP)
	$(BIN)/python -m tollgate.protogen

clean:
	rm -rf $(VENV) .tollgate
