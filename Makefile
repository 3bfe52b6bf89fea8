# Two commands matter (see README.md):  make demo   and   make test
# Everything installs into .venv at the repository root.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A course checkout with the read-only ../shared folder beside it uses its images
# instead of downloading them; anyone else downloads them by URL and sha256.
NSTUTILS_DATA_DIR ?= $(abspath $(wildcard ../shared/data/images))
export NSTUTILS_DATA_DIR
DEMO := outputs/tubingen_starry_night.jpg
NBVAL_TIMEOUT ?= 600
# Tests run in two processes (pytest-xdist), one test file or notebook each: much of a test is starting
# Python, importing TensorFlow (5 s) and tracing the network, which one core does while the other computes.
# TEST_WORKERS=0 runs them in this process, one after another. Their Jupyter kernels use Unix sockets
# (tests/kernels.py; a plugin for nbval): two workers' kernels raced for the same TCP port.
TEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

.PHONY: setup demo test lab html gallery benchmark clean-notebooks check-notebooks

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[cpu,course,test]"
	touch $@

demo: setup $(DEMO)

# make only (re)creates the demo when it is missing: delete it to run again.
$(DEMO): | setup
	mkdir -p outputs
	$(BIN)/nst weights
	$(BIN)/nst stylize tubingen starry_night -o $(DEMO)

test: setup check-notebooks
	NSTUTILS_FAST=1 $(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=15 tests
	NSTUTILS_FAST=1 $(BIN)/python -m pytest $(PYTEST_PARALLEL) --nbval-lax --nbval-cell-timeout=$(NBVAL_TIMEOUT) -p no:randomly -p tests.kernels notebooks

check-notebooks: setup
	$(BIN)/python tools/notebooks.py check notebooks
	$(BIN)/python tools/nbgrader_cells.py --check notebooks

clean-notebooks: setup
	$(BIN)/python tools/notebooks.py clean notebooks

# The student notebooks, made by nbgrader itself: an nbgrader course in build/course (teach/nbgrader_config.py,
# one assignment per notebook in source/), then generate_assignment writes build/course/release/<name>/<name>.ipynb
# with every solution replaced by a stub. nbgrader calls `alembic` by name: the venv's scripts go first on PATH.
COURSE := build/course
.PHONY: student
student: setup
	rm -rf $(COURSE)/source $(COURSE)/release
	$(BIN)/python tools/nbgrader_cells.py --course $(COURSE) notebooks
	cd $(COURSE) && PATH="$(abspath $(BIN)):$$PATH" nbgrader generate_assignment "*" --force

lab: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

html: setup
	mkdir -p build/html
	$(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=-1 --output-dir build/html notebooks/*.ipynb

gallery: setup
	$(BIN)/python docs/gallery.py

# The full benchmark takes about 1 hour on a 2-core CPU with the committed tutorial losses (3 hours without);
# `make benchmark MODE=--short` takes a few minutes.
MODE ?= --full
benchmark: setup
	$(BIN)/python -m benchmarks.run $(MODE)
