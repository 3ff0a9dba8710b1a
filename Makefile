# `make run` runs the main job, `make test` the tests; both set up .venv themselves.
SYSTEM_PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
DATASET ?= synthetic
# `make run DATASET=ntu60 RECIPE=official`: notebooks 02-05 take the recipe (default: project).
RECIPE ?=
# Tests run on both cores; notebooks are checked against their committed outputs by nbval.
PYTEST_ARGS ?= -n 2

.PHONY: run test bench notebooks lab setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py neuron/data/_ntu_tokens.c
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,notebooks]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

run: setup
	$(PY) -m neuron run --dataset $(DATASET) $(if $(RECIPE),-p recipe=$(RECIPE))

test: setup
	$(PY) -m ruff check neuron tests benchmarks setup.py
	$(PY) -m pytest $(PYTEST_ARGS) tests
	$(PY) -m pytest --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks

# Re-execute the notebooks in place on their defaults (commit the result after changing one).
notebooks: setup
	$(PY) -m neuron run --out notebooks

# Open the notebooks in JupyterLab; the venv's jupyter finds the `python3` kernel installed in the venv
# (as root, in a container, jupyter wants --allow-root).
lab: setup
	$(PY) -m jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup
	$(PY) benchmarks/ntu_parser.py

clean:
	rm -rf $(VENV) results
