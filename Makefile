# daisee-lab: every target sets up what it needs first. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_OK  := $(VENV)/.installed
NODE_OK := node_modules/.installed

.PHONY: help setup demo lint check test lab docs bench student clean
.DEFAULT_GOAL := help

help:  ## list the targets
	@echo "daisee-lab: new here? run 'make demo' (a community day, set-up included), then 'make lab'."
	@echo
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

setup: $(PY_OK) $(NODE_OK)  ## install the Python and Node dependencies (idempotent, offline when nothing changed)

$(PY_OK): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements/constraints.txt -e '.[test,docs]'
	touch $@

$(NODE_OK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup  ## run the main job: a community day, meters to on-chain settlement, into reports/
	$(BIN)/daisee-lab run

lint: setup  ## ruff (defects, not layout) on the repository, mypy on the library
	$(BIN)/ruff check
	$(BIN)/mypy

check: lint  ## the edit-test loop: lint, types and the fast tests (no slow ones, no notebooks, no Chromium)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" -p no:cacheprovider tests

test: lint  ## run every test: lint, types, library, contracts, book chapters, the site in Chromium
	@chromium=$$(tests/chromium.sh) || exit 1; \
	DAISEE_CHROMIUM=$$chromium $(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 -p no:cacheprovider tests book \
		--nbval --nbval-current-env --nbval-sanitize-with book/sanitize.cfg

# As root (a container, say) JupyterLab must be told that it may run.
lab: setup  ## open the book in JupyterLab
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) book/

docs: setup  ## build the documentation site into site/ (DAISEE_EDITION=student: without solutions)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: setup  ## run the benchmarks (they print ratios)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

student: setup  ## write the learners' edition (no solutions) into student/
	$(BIN)/daisee-lab book student --book book --out student

clean:  ## remove the environments and build outputs
	rm -rf $(VENV) node_modules site student .cache
