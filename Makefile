# Lethe: developer entry points. `make` alone lists the targets.
#
# Everything runs from .venv, which the targets create and keep in step with the lock files:
#   .venv/.installed      runtime dependencies (requirements.lock) + lethe in editable mode
#   .venv/.installed-dev  the same plus dev tools (requirements-dev.lock)
# A stamp is rebuilt whenever its lock file or pyproject.toml is newer than it.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON      ?= python3
PYTEST_ARGS ?=
BENCH_ARGS  ?=
LOCK_ARGS   ?=
UV_VERSION  := 0.13.8
MIN_PYTHON  := 3.11

VENV := .venv
BIN  := $(VENV)/bin
UV   := $(BIN)/uv
# `uv pip` acts on this interpreter, whatever VIRTUAL_ENV the caller has set
UV_PIP := $(UV) pip install --python $(BIN)/python

# recipe line: exits non-zero with a message unless $(1) runs and is a Python >= $(MIN_PYTHON)
check_python = @$(1) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
  echo "error: Lethe needs Python $(MIN_PYTHON) or newer, but '$(1)' is: $$(command -v $(1) >/dev/null 2>&1 && $(1) --version 2>&1 || echo 'not found')." >&2; \
  echo "       Install Python $(MIN_PYTHON)+ and run e.g. 'make PYTHON=python3.11 $(MAKECMDGOALS)'." >&2; \
  echo "       (A .venv made by an older Python must go first: 'make distclean'.)" >&2; \
  exit 1; }

.PHONY: help venv install demo test lint typecheck imports bench serve prod-up prod-down lock clean distclean

help: ## list the targets
	@echo "Lethe make targets:"
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: PYTHON=$(PYTHON)  PYTEST_ARGS='$(PYTEST_ARGS)'  BENCH_ARGS='$(BENCH_ARGS)'  LOCK_ARGS='$(LOCK_ARGS)'"

# ------------------------------------------------------------------------------------------------ environment

$(BIN)/python:
	$(call check_python,$(PYTHON))
	$(PYTHON) -m venv $(VENV)

$(VENV)/.uv-$(UV_VERSION): | $(BIN)/python
	$(call check_python,$(BIN)/python)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	rm -f $(VENV)/.uv-*
	touch $@

$(VENV)/.installed: requirements.lock pyproject.toml $(VENV)/.uv-$(UV_VERSION)
	$(UV_PIP) --require-hashes -r requirements.lock
	$(UV_PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml $(VENV)/.uv-$(UV_VERSION)
	$(UV_PIP) --require-hashes -r requirements-dev.lock
	$(UV_PIP) --no-deps -e .
	touch $@

venv: $(VENV)/.installed-dev ## create .venv with runtime + dev dependencies (what `make test` uses)

install: $(VENV)/.installed ## create .venv with the runtime dependencies only

# ------------------------------------------------------------------------------------------------ run

demo: $(VENV)/.installed ## seed the demo store in var/demo/ and run the main job on it
	$(BIN)/python -m flows.demo

bench: $(VENV)/.installed ## run the benchmarks (BENCH_ARGS='...')
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

serve: $(VENV)/.installed ## start a local Prefect server (UI on :4200) and serve the deployments
	$(BIN)/python -m deployments.serve --with-server

prod-up: $(VENV)/.installed ## Prefect server on PostgreSQL, process work pool, deploy, worker (var/prod/)
	$(BIN)/python -m deployments.prod up

prod-down: ## stop the worker and the server that prod-up started (installs nothing first)
	$(BIN)/python -m deployments.prod down

# ------------------------------------------------------------------------------------------------ checks

test: lint typecheck imports $(VENV)/.installed-dev ## lint, typecheck, import contract, then pytest (PYTEST_ARGS='...')
	@rc=0; $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests (exit 5); that is a failure, not a pass" >&2; fi; \
	exit $$rc

lint: $(VENV)/.installed-dev ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev ## mypy on the lethe package (config in pyproject.toml)
	$(BIN)/mypy

imports: $(VENV)/.installed-dev ## import-linter: the core never imports the orchestrator, layers, no cycles
	$(BIN)/lint-imports

# ------------------------------------------------------------------------------------------------ maintenance

lock: $(VENV)/.uv-$(UV_VERSION) ## re-resolve requirements.lock and requirements-dev.lock (LOCK_ARGS=--upgrade)
	$(UV) pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 $(LOCK_ARGS) -o requirements.lock >/dev/null
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 $(LOCK_ARGS) -o requirements-dev.lock >/dev/null

clean: ## remove var/ and caches (keeps .venv)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build dist
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## clean, and remove .venv too
	rm -rf $(VENV) *.egg-info
