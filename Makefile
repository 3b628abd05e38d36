# fpalib developer entry points. Needs only python3 (>= 3.10), make and git;
# `make data` also needs npm (Node.js). Every target installs what it needs.
#
#   make setup   create $(VENV) and install fpalib with the notebook and dev extras
#   make data    fetch the emoji images into data/emoji (idempotent)
#   make demo    setup + `fpa demo`: figures from the shipped emoji painter (no training)
#   make test    setup, `fpa doctor`, the whole pytest suite incl. nbval on every notebook's smoke run (CI)
#   make bench   run every script in benchmarks/
#   make clean   remove runs/ and the files in figures/ that git does not track (keeps data/)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a successful install; re-installs only when pyproject.toml changes.
STAMP := $(VENV)/.fpalib-installed

.DEFAULT_GOAL := help
.PHONY: help setup data demo test bench clean

help:
	@sed -n 's/^#   make /make /p' Makefile

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "error: fpalib needs Python >= 3.10 but $(PYTHON) is $$($(PYTHON) --version 2>&1); run e.g. 'make PYTHON=python3.11'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[notebooks,dev]"
	touch $@

setup: $(STAMP)

data: setup
	$(BIN)/fpa data emoji

demo: setup
	$(BIN)/fpa demo

test: setup
	$(BIN)/fpa doctor
	$(BIN)/python -m pytest

bench: setup
	@set -e; for script in benchmarks/*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done

clean:
	rm -rf runs .pytest_cache
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git clean -fdqx -- figures/; \
	fi
