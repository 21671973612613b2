# nolabel — `make demo` runs the pipeline on offline demo data; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
SHARED_WHEELS ?= ../shared/wheels
FIND_LINKS := $(if $(wildcard $(SHARED_WHEELS)/*.whl),--find-links $(abspath $(SHARED_WHEELS)),)
STAMP := $(VENV)/.nolabel-installed
export SPARK_LOCAL_IP ?= 127.0.0.1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
IMAGE_PREFIX ?= nolabel
IMAGE_TAG ?= latest
PYTEST_ARGS ?=

.PHONY: setup demo test lint format ui mlflow-ui images clean

setup: $(STAMP)

# torch first (the local CPU wheel), then mmcv against it without build isolation, then the rest.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip "setuptools<70" wheel
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-build-isolation $(FIND_LINKS) mmcv==2.1.0
	$(PIP) install --quiet $(FIND_LINKS) -e ".[detect,dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/nolabel demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint
	bash tests/run_pytest.sh $(BIN)/python $(PYTEST_ARGS)

ui: setup
	$(BIN)/prefect server start

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath .nolabel)/mlflow.db

images:
	for step in crawl spark detect serve; do \
	  docker build -f docker/$$step.Dockerfile -t $(IMAGE_PREFIX)/$$step:$(IMAGE_TAG) . || exit 1; \
	done

clean:
	rm -rf $(VENV) .nolabel .pytest_cache .ruff_cache
