# One-command entry points. Each target sets up its own virtual environment (.venv) first.
#
#   make demo    simulate a detector, train, print the decomposition table
#   make test    lint, build the docs (quick), run the test suite (the `numerics` tests again
#                on other CPU kernels)
#   make docs    build the documentation site into docs/_build/html (warnings are errors)
#
# PyTorch: if the environment already has torch (e.g. a CUDA build you installed), it is kept.
# Otherwise TORCH_SPEC is installed (default: the CPU-friendly pinned version below); override
# with e.g. `make test TORCH_SPEC="torch==2.5.1"` or pre-install torch into .venv.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,plot,hep,docs
PY := $(VENV)/bin/python
STAMP := $(VENV)/.channeldecomp-installed

.PHONY: demo test docs lint format bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

DEMO_OUTPUT ?= demo-output

demo: $(STAMP)
	$(VENV)/bin/channeldecomp demo --output $(DEMO_OUTPUT) $(ARGS)

# Float results differ in the last bits with the CPU's vector width and the thread count: the
# tests marked `numerics` run again under each of these kernel sets (torch's
# ATEN_CPU_CAPABILITY; a set the CPU lacks falls back to the best it has) on one thread.
NUMERICS_CAPABILITIES ?= default avx2

# The docs are built before the tests: tests/test_docs_site.py opens the built site in a browser.
test: $(STAMP)
	$(PY) -m ruff check channeldecomp tests benchmarks examples docs
	$(PY) -m ruff format --check channeldecomp tests benchmarks examples docs
	$(MAKE) docs
	$(PY) -m pytest $(PYTEST_ARGS)
	for capability in $(NUMERICS_CAPABILITIES); do \
	  ATEN_CPU_CAPABILITY=$$capability OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	    $(PY) -m pytest -m numerics -p no:cacheprovider $(PYTEST_ARGS) || exit 1; \
	done

# The gallery's examples run during the build; DOCS_QUICK=1 (the default) shrinks their data and
# epochs (CHANNELDECOMP_DOCS_QUICK), DOCS_QUICK=0 runs them at full size. They are small: one
# torch thread each (unless OMP_NUM_THREADS says otherwise) is fastest on a shared machine.
DOCS_QUICK ?= 1
SPHINXOPTS ?= -W --keep-going

docs: $(STAMP)
	CHANNELDECOMP_DOCS_QUICK=$(DOCS_QUICK) OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m sphinx -b html $(SPHINXOPTS) docs docs/_build/html

lint: $(STAMP)
	$(PY) -m ruff check channeldecomp tests benchmarks examples docs

format: $(STAMP)
	$(PY) -m ruff format channeldecomp tests benchmarks examples docs

BENCHMARKS ?= classifier percentiles decomposition detectors dqm

bench: $(STAMP)
	for name in $(BENCHMARKS); do $(PY) benchmarks/bench_$$name.py $(ARGS) || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	rm -rf docs/_build docs/auto_examples docs/api/generated docs/sg_execution_times.rst
