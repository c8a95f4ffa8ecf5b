# Two commands set everything up on a fresh machine:
#   make test   - virtual environment, torch (CPU build) first, the project, the whole suite
#   make demo   - the default models (pulled when missing), then the batch script on samples/
# and, on a machine with an NVIDIA GPU:
#   make gpu    - the CUDA build of the same torch in place of the CPU one
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

# torch comes first, pinned, as the CPU build: PyPI's Linux wheel is the CUDA build, several
# GB. TORCH_INDEX, where the CPU wheels are, is added as an *extra* index: the wheels or the
# mirror pip is configured with still count. It is asked once first (5 s at most) and left
# out, with a note, when out of reach: pip would retry it five times for torch and for each
# of its dependencies, a minute and a half of warnings. TORCH_INDEX= (empty): pip's own.
# The Dockerfile's TORCH_VERSION is this pin (tests/test_dockerfile.py holds them equal).
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
REACHABLE := import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)
# make gpu: empty takes PyPI's Linux wheel (built for CUDA); or name the index of one CUDA
# version, such as https://download.pytorch.org/whl/cu126.
TORCH_GPU_INDEX ?=
# make demo: the models the batch script uses by default (models/registry.toml).
DEMO_MODELS ?= opus-mt-fr-en distilbart-cnn-12-6

.PHONY: install test demo gpu lint clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@if [ -n "$(TORCH_INDEX)" ] && $(PY) -c "$(REACHABLE)" "$(TORCH_INDEX)/torch/" 2>/dev/null; then \
	  echo "$(PIP) install $(TORCH) --extra-index-url $(TORCH_INDEX)"; \
	  $(PIP) install --quiet $(TORCH) --extra-index-url $(TORCH_INDEX); \
	else \
	  [ -z "$(TORCH_INDEX)" ] || echo "$(TORCH_INDEX) is out of reach: torch comes from pip's" \
	    "configured indexes (a local CPU wheel where there is one; else PyPI's, on Linux the CUDA build)"; \
	  echo "$(PIP) install $(TORCH)"; \
	  $(PIP) install --quiet $(TORCH); \
	fi
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The suite's processes (pytest-xdist): most tests wait on the servers and workers they
# start, so two share two cores well (279 s instead of 625 s here). TEST_WORKERS=0: one
# process, the tests in file order.
TEST_WORKERS ?= 2

test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS)

# `models pull` asks the hub only for models missing from the cache; where it cannot reach
# the hub it stops within seconds, saying how else to get them, and so does make.
demo: install
	$(VENV)/bin/passeur models pull $(DEMO_MODELS)
	$(VENV)/bin/passeur translate samples/ --out out/samples.jsonl --overwrite --progress

# Uninstalled first: the CPU build already satisfies the pin. `make clean
# install` goes back to the CPU build.
gpu: install
	$(PIP) uninstall --quiet --yes torch
	$(PIP) install --quiet $(TORCH) $(if $(TORCH_GPU_INDEX),--extra-index-url $(TORCH_GPU_INDEX))
	$(PY) -c "import torch; print('torch', torch.__version__, '- CUDA', torch.version.cuda, '- GPU available:', torch.cuda.is_available())"

lint: install
	$(VENV)/bin/ruff check service tests

clean:
	rm -rf $(VENV) out .pytest_cache
