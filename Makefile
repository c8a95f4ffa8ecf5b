# Two commands set everything up on a fresh machine:
#   make test   - virtual environment, torch (CPU build) first, the project, the whole suite
#   make demo   - the batch script on samples/ with the default registry models
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install test demo lint clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch would pull a CUDA build of several GB.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

demo: install
	$(VENV)/bin/passeur translate samples/ --out out/samples.jsonl --overwrite --progress

lint: install
	$(VENV)/bin/ruff check service tests

clean:
	rm -rf $(VENV) out .pytest_cache
