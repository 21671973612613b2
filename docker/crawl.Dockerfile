# nolabel crawl step image: `python -m nolabel.components.crawl <command> ...` (flows: run-json PARAMS).
# Build from the repo root: docker build -f docker/crawl.Dockerfile -t nolabel/crawl:TAG .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- builder: a self-contained venv with the project and CPU torch --------------------------
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
RUN python -m venv /opt/venv \
    && pip install "pip>=24" "setuptools>=77.0.3,<82" "wheel>=0.43"
# The project pins torch; take the CPU build so the image carries no CUDA libraries.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A torch wheel in docker/local/wheels wins; an empty TORCH_INDEX_URL means PyPI alone.
# (torch is pinned; hadolint misreads the optional index flag as a package.)
# hadolint ignore=DL3013
RUN pip install --find-links /opt/local/wheels \
        ${TORCH_INDEX_URL:+--extra-index-url "${TORCH_INDEX_URL}"} "torch==${TORCH_VERSION}"
WORKDIR /src
# The dependencies first, read from pyproject.toml alone: this layer and the runtime's copy of the
# venv stay cached until pyproject.toml changes; a code change rebuilds only the project's wheel.
COPY pyproject.toml docker/project_requirements.py ./
# docker/local/constraints.txt (`make docker-local`): the versions the build machine's venv
# resolved, so the image runs what the tests ran (an MLflow database of a newer MLflow
# is unreadable to an older one); absent, the newest versions the ranges allow.
RUN python project_requirements.py pyproject.toml > requirements.txt \
    && constraints=/dev/null \
    && if [ -s /opt/local/constraints.txt ]; then constraints=/opt/local/constraints.txt; fi \
    && pip install -r requirements.txt -c "$constraints" && pip check

# ---- project: the project's own wheel (non-editable; no dependencies: the venv has them) -------
FROM builder AS project
COPY README.md ./
COPY components ./components
COPY flows ./flows
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheelhouse .

# ---- runtime: the venv only, no compilers, non-root ------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="nolabel-crawl" \
      org.opencontainers.image.description="nolabel crawl step (web image search to dataset)" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/nolabel \
    XDG_CACHE_HOME=/tmp/.cache \
    NOLABEL_HOME=/var/lib/nolabel
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
RUN python -m nolabel.components.crawl --help > /dev/null
WORKDIR /home/nolabel
USER 10001:10001
ENTRYPOINT ["python", "-m", "nolabel.components.crawl"]
CMD ["--help"]
