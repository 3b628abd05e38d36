# fpalib developer entry points. Needs only python3 (>= 3.10), make and git;
# `make data` also needs npm (Node.js). Every target installs what it needs.
#
#   make setup   create $(VENV) and install fpalib with the notebook and dev extras
#   make data    fetch the emoji images into data/emoji (idempotent)
#   make demo    setup + `fpa demo`: figures from the shipped painters into figures/demo/ (git-ignored)
#   make test    setup, `fpa doctor`, the whole pytest suite incl. nbval on every notebook's smoke run (CI)
#   make bench   run every benchmarks/bench_*.py script
#   make site    setup + `fpa site`: the static page that paints with the shipped painters, into site/ (git-ignored)
#   make gpu-check  benchmarks/gpu_check.py on a CUDA machine, report in gpu-check/ (no install: PYTHONPATH=.)
#   make clean   remove runs/ and the files in figures/ that git does not track (keeps data/)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a successful install; re-installs only when pyproject.toml changes.
STAMP := $(VENV)/.fpalib-installed

.DEFAULT_GOAL := help
.PHONY: help setup data demo test bench site gpu-check clean

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

site: setup
	$(BIN)/fpa site --out site

test: setup
	$(BIN)/fpa doctor
	$(BIN)/python -m pytest

bench: setup
	@set -e; for script in benchmarks/bench_*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done

# Runs with the venv's python when there is one, else $(PYTHON) as is: a bare GPU machine
# with torch (>= 2.11) and no pip can run it from the checkout.
gpu-check:
	PYTHONPATH=. $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) benchmarks/gpu_check.py --out gpu-check

clean:
	rm -rf runs .pytest_cache
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git clean -fdqx -- figures/; \
	fi
