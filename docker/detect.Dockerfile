# nolabel detect image (detector train / eval / score) on the CUDA PyTorch base image.
# mmcv 2.1.0 has no wheel for this torch/CUDA pair: its CUDA ops are compiled in the builder
# (the -devel image, nvcc included); the runtime stage is the matching -runtime image.
#   docker run --gpus all nolabel/detect:TAG run-json @params.json
#   docker run --gpus all nolabel/detect:TAG eval-json @params.json
# The tags must name the torch the project pins (pyproject: torch==2.13.0) and Python 3.11.
ARG CUDA_DEVEL_IMAGE=pytorch/pytorch:2.13.0-cuda12.8-cudnn9-devel
ARG CUDA_RUNTIME_IMAGE=pytorch/pytorch:2.13.0-cuda12.8-cudnn9-runtime

# ---- builder: nvcc + compilers live here only ------------------------------------------------
FROM ${CUDA_DEVEL_IMAGE} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -c "import sys, torch; assert sys.version_info[:2] == (3, 11), sys.version; print(torch.__version__)"
# The converted COCO detectors that propose animals (`make docker-local` copies them here).
COPY docker/local/ /opt/local/
RUN mkdir -p /opt/weights && if [ -d /opt/local/weights ]; then cp -r /opt/local/weights/. /opt/weights/; fi
# The venv sees the base image's CUDA torch (system site packages) and adds everything else.
RUN python -m venv --system-site-packages /opt/venv \
    && pip install "pip>=24" "setuptools>=77.0.3,<82" "wheel>=0.43" "ninja>=1.11"
ARG MMCV_VERSION=2.1.0
ARG TORCH_CUDA_ARCH_LIST="7.0;7.5;8.0;8.6;8.9;9.0"
ARG MAX_JOBS=4
RUN MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST}" \
    MAX_JOBS="${MAX_JOBS}" \
    pip wheel --no-deps --no-build-isolation --wheel-dir /wheels "mmcv==${MMCV_VERSION}" \
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
RUN opencv_version="$(pip show opencv-python | sed -n 's/^Version: //p')" \
    && pip uninstall -y opencv-python \
    && pip install "opencv-python-headless==${opencv_version}"

# ---- project: the project's own wheel (non-editable; no dependencies: the venv has them) -------
FROM builder AS project
COPY README.md ./
COPY components ./components
COPY flows ./flows
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheelhouse .

# ---- runtime: CUDA runtime + the venv, no nvcc, non-root --------------------------------------
FROM ${CUDA_RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="nolabel-detect" \
      org.opencontainers.image.description="nolabel detector training, evaluation and scoring (CUDA)" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/nolabel \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    NOLABEL_HOME=/var/lib/nolabel \
    NOLABEL_WEIGHTS_DIR=/opt/nolabel/weights
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
RUN python -c "import mmcv.ops, mmdet" && python -m nolabel.components.detect --help > /dev/null
WORKDIR /home/nolabel
USER 10001:10001
ENTRYPOINT ["python", "-m", "nolabel.components.detect"]
CMD ["--help"]
