# One-command entry points. Each target sets up its own virtual environment (.venv) first.
#
#   make demo    simulate a detector, train, print the decomposition table
#   make test    lint and run the test suite
#
# PyTorch: if the environment already has torch (e.g. a CUDA build you installed), it is kept.
# Otherwise TORCH_SPEC is installed (default: the CPU-friendly pinned version below); override
# with e.g. `make test TORCH_SPEC="torch==2.5.1"` or pre-install torch into .venv.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,plot,hep
PY := $(VENV)/bin/python
STAMP := $(VENV)/.channeldecomp-installed

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

DEMO_OUTPUT ?= demo-output

demo: $(STAMP)
	$(VENV)/bin/channeldecomp demo --output $(DEMO_OUTPUT) $(ARGS)

test: $(STAMP)
	$(PY) -m ruff check channeldecomp tests benchmarks examples
	$(PY) -m ruff format --check channeldecomp tests benchmarks examples
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check channeldecomp tests benchmarks examples

format: $(STAMP)
	$(PY) -m ruff format channeldecomp tests benchmarks examples

BENCHMARKS ?= classifier percentiles decomposition detectors dqm

bench: $(STAMP)
	for name in $(BENCHMARKS); do $(PY) benchmarks/bench_$$name.py $(ARGS) || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
