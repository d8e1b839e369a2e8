# One command each on a fresh machine: the venv is created and filled on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-temporal test lint typecheck pytest example-test bench mutate clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,temporal]'
	touch $(STAMP)

# The four bundled suites with and without budgets, offline on the simulated transport:
# reports/demo/ holds report.html (the budget story first), report.md and the charts.
DEMO_TRIALS ?= 20
demo: $(STAMP)
	rm -rf reports/demo
	$(BIN)/harness run scenarios --budgets on,off --trials $(DEMO_TRIALS) --out reports/demo

# The same suites as durable workflows: a local Temporal dev server and two workers,
# started and stopped by the script; it ends by comparing trials.jsonl with the local backend.
demo-temporal: $(STAMP)
	rm -rf reports/demo-temporal
	$(BIN)/python scripts/temporal_demo.py --out reports/demo-temporal

lint: $(STAMP)
	$(BIN)/ruff check harness fakes tests bench scenarios scripts

typecheck: $(STAMP)
	$(BIN)/mypy harness

pytest: $(STAMP)
	$(BIN)/pytest

# The example project, installed from its folder and tested from there, as a user would:
# its world and tool are found through the entry points its own pyproject.toml declares.
example-test: $(STAMP)
	$(BIN)/pip install -q -e examples/ticket-desk
	$(BIN)/ruff check examples/ticket-desk
	cd examples/ticket-desk && $(abspath $(BIN))/pytest

test: lint typecheck pytest example-test

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,temporal,bench]'
	$(BIN)/python bench/step_overhead.py
	$(BIN)/python bench/llm_transport.py
	$(BIN)/python bench/suite_throughput.py
	$(BIN)/python bench/report_scale.py
	$(BIN)/python bench/temporal_scale.py

# Mutation testing of the code that decides verdicts and safety (the modules and fast tests
# are listed under [tool.mutmut] in pyproject.toml); not part of `make test`. Fails on any
# survivor not listed, with why, in tests/mutation/equivalent.md.
mutate: $(STAMP)
	$(BIN)/pip install -q -e '.[test,temporal,mutate]'
	rm -rf mutants
	@start=$$(date +%s); \
	$(BIN)/mutmut run --max-children 2 && \
	$(BIN)/python tests/mutation/survivors.py; status=$$?; \
	echo "make mutate took $$(( $$(date +%s) - start )) s"; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info mutants examples/ticket-desk/src/*.egg-info
