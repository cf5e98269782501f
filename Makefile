# Optrade: every habit has an entry point here.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
UV_VERSION := 0.13.8
PYTEST_ARGS ?=

.PHONY: help install run test lint format bench migrate clean

help:
	@echo "make run     install what is missing, migrate, start every service (Ctrl-C stops all)"
	@echo "make test    the whole test suite (PostgreSQL/Redis when TEST_DATABASE_URL/TEST_REDIS_URL are set)"
	@echo "make lint    ruff, mypy and the import contracts (docs/architecture.md)"
	@echo "make bench   benchmarks; figures go to docs/benchmarks.md and bench/results.json"

$(UV):
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --user "uv==$(UV_VERSION)" \
		|| python3 -m pip install --quiet --break-system-packages --user "uv==$(UV_VERSION)"

install: $(UV)
	@$(UV) sync --frozen --quiet

run: install
	@$(UV) run --frozen python scripts/run_stack.py

migrate: install
	@$(UV) run --frozen python -m optrade.db.migrate upgrade

test: install
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

lint: install
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src services/*/src clients/python/src
	@$(UV) run --frozen lint-imports --config pyproject.toml --no-cache

format: install
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

bench: install
	@$(UV) run --frozen python -m bench

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
