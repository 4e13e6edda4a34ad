# mrsm-tokens: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test lint bench bench-instructions migrate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) ## Start the API on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/python -m service

test: $(STAMP) ## Run the whole test suite (DATABASE_URL, else Docker, else embedded PostgreSQL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff
	$(BIN)/ruff check service tests

migrate: $(STAMP) ## Apply pending migrations to DATABASE_URL (or the embedded database)
	$(BIN)/python -m service migrate

bench: $(STAMP) ## Load benchmarks with wrk (prints figures; see README, Performance)
	$(BIN)/python -m bench

bench-instructions: $(STAMP) ## Instructions per request under callgrind (repeatable; needs valgrind)
	$(BIN)/python -m bench.instructions

clean: ## Remove the virtualenv and caches (keeps .data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
