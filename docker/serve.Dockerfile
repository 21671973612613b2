# nolabel REST service image: `python -m nolabel.components.serve` (uvicorn + the app factory), CPU only.
# It loads the classifier and the detector, so it carries CPU torch, mmcv 2.1.0 (ops compiled in
# the builder stage against that torch) and mmdet 3.3.
#   docker run -p 8000:8000 -e NOLABEL_API_TOKEN=... nolabel/serve:TAG
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- builder: compilers live here only ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# This build machine's extra CA certificates and prebuilt wheels (`make images` fills
# docker/local; empty elsewhere). They stay in the builder: the runtime copies /opt/venv only.
COPY docker/local/ /opt/local/
RUN find /opt/local/certs -name "*.crt" -exec cp {} /usr/local/share/ca-certificates/ ";" \
    && update-ca-certificates > /dev/null
# The converted COCO detectors that propose animals (`nolabel weights fetch`, copied here by
# `make docker-local`); without them `score` and the service say to fetch them.
RUN mkdir -p /opt/weights && if [ -d /opt/local/weights ]; then cp -r /opt/local/weights/. /opt/weights/; fi
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv \
    && pip install "pip>=24" "setuptools>=77.0.3,<82" "wheel>=0.43" "ninja>=1.11"
# CPU torch from the PyTorch CPU index (PyPI's default wheel pulls in CUDA libraries).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A torch wheel in docker/local/wheels wins; an empty TORCH_INDEX_URL means PyPI alone.
# (torch is pinned; hadolint misreads the optional index flag as a package.)
# hadolint ignore=DL3013
RUN pip install --find-links /opt/local/wheels \
        ${TORCH_INDEX_URL:+--extra-index-url "${TORCH_INDEX_URL}"} "torch==${TORCH_VERSION}"
# mmcv ships no wheel for this torch: compile its ops against the torch above (~25 min on 2
# cores) unless docker/local/wheels holds one that fits. setup.py imports torch and
# pkg_resources: no build isolation, and setuptools <82 (the last with pkg_resources; torch
# needs >=77.0.3).
ARG MMCV_VERSION=2.1.0
ARG MAX_JOBS=4
RUN MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS}" \
    pip wheel --no-deps --no-build-isolation --find-links /opt/local/wheels --wheel-dir /wheels \
        "mmcv==${MMCV_VERSION}" \
    && pip install --no-index --no-deps --find-links /wheels "mmcv==${MMCV_VERSION}"
WORKDIR /src
# The dependencies first, read from pyproject.toml alone: this layer and the runtime's copy of the
# venv stay cached until pyproject.toml changes; a code change rebuilds only the project's wheel.
COPY pyproject.toml docker/project_requirements.py ./
# docker/local/constraints.txt (`make docker-local`): the versions the build machine's venv
# resolved, so the image runs what the tests ran (an MLflow database of a newer MLflow
# is unreadable to an older one); absent, the newest versions the ranges allow.
RUN python project_requirements.py pyproject.toml detect > requirements.txt \
    && constraints=/dev/null \
    && if [ -s /opt/local/constraints.txt ]; then constraints=/opt/local/constraints.txt; fi \
    && pip install -r requirements.txt -c "$constraints" && pip check
# opencv-python needs libGL; the headless build of the same version needs no system libraries.
RUN opencv_version="$(pip show opencv-python | sed -n 's/^Version: //p')" \
    && pip uninstall -y opencv-python \
    && pip install "opencv-python-headless==${opencv_version}"

# ---- project: the project's own wheel (non-editable; no dependencies: the venv has them) -------
FROM builder AS project
COPY README.md ./
COPY components ./components
COPY flows ./flows
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheelhouse .

# ---- cpu-runtime: the venv only, no compilers, non-root user (serve and detect-cpu) ------------
FROM ${PYTHON_IMAGE} AS cpu-runtime
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/nolabel \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    NOLABEL_HOME=/var/lib/nolabel \
    NOLABEL_WEIGHTS_DIR=/opt/nolabel/weights \
    NOLABEL_DEVICE=cpu
RUN groupadd --gid 10001 nolabel \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/nolabel \
       --shell /usr/sbin/nologin nolabel \
    && mkdir -p /var/lib/nolabel \
    && chown 10001:10001 /var/lib/nolabel
COPY --from=builder /opt/venv /opt/venv
COPY --from=project /wheelhouse /tmp/wheelhouse
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-index \
        /tmp/wheelhouse/nolabel-*.whl \
    && rm -rf /tmp/wheelhouse
COPY --from=builder /opt/weights /opt/nolabel/weights
WORKDIR /home/nolabel
USER 10001:10001
# The smoke import runs as the user the container runs as, and leaves no cache behind.
RUN python -c "import cv2, mmcv.ops, mmdet, torch, uvicorn; import nolabel.components.serve.app" \
    && python -m nolabel.components.detect --help > /dev/null \
    && rm -rf /tmp/.cache /tmp/matplotlib

# ---- detect-cpu: detector train / eval / score on CPU (`--target detect-cpu`; the CUDA image
#      is docker/detect.Dockerfile) ---------------------------------------------------------------
FROM cpu-runtime AS detect-cpu
LABEL org.opencontainers.image.title="nolabel-detect" \
      org.opencontainers.image.description="nolabel detector training, evaluation and scoring (CPU)" \
      org.opencontainers.image.licenses="MIT"
ENTRYPOINT ["python", "-m", "nolabel.components.detect"]
CMD ["--help"]

# ---- runtime: the REST service (the default target) ------------------------------------------
FROM cpu-runtime AS runtime
LABEL org.opencontainers.image.title="nolabel-serve" \
      org.opencontainers.image.description="nolabel REST API (classify and detect), CPU" \
      org.opencontainers.image.licenses="MIT"
ENV PORT=8000
USER 10001:10001
EXPOSE 8000
# No curl in the slim image: the probe is a few lines of stdlib Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
# `nolabel serve`: uvicorn with the service's own client timeouts and header limits
# (components/serve/protocol.py), proxy headers on, 30 s graceful shutdown.
ENTRYPOINT ["python", "-m", "nolabel.components.serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
