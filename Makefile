# mrsm-tokens: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(BIN)/pip install --quiet -c constraints.txt

.PHONY: help run test lint bench bench-instructions migrate constraints clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What running needs (the embedded PostgreSQL); the tests' tools only for the targets below.
$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[embedded]'
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP) ## Start the API on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/python -m service

test: $(DEV_STAMP) ## Run the whole test suite (DATABASE_URL, else Docker, else embedded PostgreSQL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## ruff
	$(BIN)/ruff check service tests bench

migrate: $(RUN_STAMP) ## Apply pending migrations to DATABASE_URL (or the embedded database)
	$(BIN)/python -m service migrate

bench: $(DEV_STAMP) ## Load benchmarks with wrk (prints figures; see docs/performance.md)
	$(BIN)/python -m bench

bench-instructions: $(DEV_STAMP) ## Instructions per request under callgrind (repeatable; needs valgrind)
	$(BIN)/python -m bench.instructions

constraints: $(DEV_STAMP) ## Pin the dependency set installed now into constraints.txt
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^mrsm-tokens'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean: ## Remove the virtualenv and caches (keeps .data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
