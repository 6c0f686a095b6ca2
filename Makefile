# Everything runs in a local virtualenv (.venv) built from setup.cfg; re-running is a no-op
# until setup.cfg or pyproject.toml change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONHASHSEED ?= 0

.PHONY: install test stress demo bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,serving]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

stress: install
	$(BIN)/python -m tests.fuzzing --cases=10000

demo: install
	$(BIN)/python -m tfquant.demo

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info demo_out
