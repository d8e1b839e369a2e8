# One command each on a fresh machine: the venv is created and filled on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/harness demo
	rm -rf reports/demo
	$(BIN)/harness run scenarios --out reports/demo

lint: $(STAMP)
	$(BIN)/ruff check harness fakes tests bench

typecheck: $(STAMP)
	$(BIN)/mypy harness

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python bench/step_overhead.py
	$(BIN)/python bench/llm_transport.py
	$(BIN)/python bench/suite_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
