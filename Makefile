# Everything runs in a local virtualenv (.venv) built from setup.cfg; re-running is a no-op
# until setup.cfg or pyproject.toml change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONHASHSEED ?= 0

.PHONY: install test stress sweep demo bench bench-peers clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,serving]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --max-worker-restart=0 --durations=20

stress: install
	$(BIN)/python -m tests.fuzzing --cases=10000
	$(BIN)/python -m tests.portability

sweep: install
	$(BIN)/python -m tests.sweep
	$(BIN)/python -m tests.sweep --installed

demo: install
	$(BIN)/python -m tfquant.demo

bench: install
	$(BIN)/python -m benchmarks.run

# The peers (CompressAI on torch) live in their own environment, never in `make test` or CI.
PEERS_VENV ?= .venv-peers
PEERS_PACKAGES := torch==2.14.1 torchvision==0.29.1 compressai==1.2.8

$(PEERS_VENV)/.installed:
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet $(PEERS_PACKAGES)
	touch $@

bench-peers: install $(PEERS_VENV)/.installed
	PEERS_PYTHON=$(PEERS_VENV)/bin/python $(BIN)/python -m benchmarks.run peers

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info demo_out
