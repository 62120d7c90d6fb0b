# The two commands of the course: `make lab` and `make test`.
# Both create (or update) .venv at the repository root and skip work already done.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_NB := -p no:cacheprovider --nbval --nbval-current-env \
             --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600

.PHONY: lab test install test-unit test-notebooks exercises site bench clean help

help:
	@echo "make lab    - install into .venv and open the course in JupyterLab"
	@echo "make test   - install into .venv and run the whole suite (pytest + nbval)"
	@echo "make site   - render the executed lessons and exercise prompts to _site/"
	@echo "make exercises - regenerate exercises/ from solutions/"
	@echo "make bench  - the quick benchmark preset against uncapped BLAS, with plots"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed")'
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the package metadata changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sparsekit)"
	touch $(STAMP)

install: $(STAMP)

# Jupyter refuses to run as root without --allow-root (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: install
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb

test: install
	$(PY) -m pytest tests -q
	$(PY) -m pytest $(PYTEST_NB) notebooks solutions -q

test-unit: install
	$(PY) -m pytest tests -q

test-notebooks: install
	$(PY) -m pytest $(PYTEST_NB) notebooks solutions -q

site: install
	$(PY) -m sparsekit.site --out _site

# Benchmarks compare against the best BLAS kernel: never under an OPENBLAS_CORETYPE cap.
bench: install
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m sparsekit.bench --preset quick --plot

exercises: install
	$(PY) -m sparsekit.grading.generate

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
