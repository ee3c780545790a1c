# Two entry points for a fresh machine with Python 3.11 and make:
#   make run    runs the whole pipeline locally on the bundled sample data
#   make test   lint, the container tests on the image's libraries, the full test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format benchmark clean test-image browser airflow

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python run_pipeline.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One worker per core; a module's tests stay on one worker (module-scoped runs are shared).
test: lint test-image browser airflow
	$(BIN)/python -m pytest -n auto --dist loadscope

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

benchmark: install
	$(BIN)/python benchmarks/pipeline_overhead.py

clean:
	rm -rf .pipeline-local test-artifacts

IMAGE_STAMP := .venv-image/.installed

$(IMAGE_STAMP): requirements-image.txt
	$(PYTHON) -m venv .venv-image
	.venv-image/bin/python -m pip install --quiet -r requirements-image.txt
	touch $(IMAGE_STAMP)

# The container-script tests on the SageMaker image's library versions.
test-image: $(IMAGE_STAMP)
	.venv-image/bin/python -m pytest -m container -p no:cacheprovider

# Headless Chromium for the browser tests (-m browser): Debian's package, never a download
# by playwright.
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

AIRFLOW_STAMP := .venv-airflow/.installed

# Airflow for the DAG tests (tests/aws/test_airflow_dag.py), in its own virtualenv: its
# dependencies never enter .venv. Pinned by constraints-airflow.txt (see its header).
$(AIRFLOW_STAMP): requirements-airflow.txt constraints-airflow.txt
	$(PYTHON) -m venv .venv-airflow
	.venv-airflow/bin/python -m pip install --quiet --upgrade pip
	.venv-airflow/bin/python -m pip install --quiet -r requirements-airflow.txt -c constraints-airflow.txt
	touch $(AIRFLOW_STAMP)

airflow: $(AIRFLOW_STAMP)
