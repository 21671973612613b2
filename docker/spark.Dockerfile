# nolabel Spark image, shared by two steps: transfer (train/classify) and lime (explain).
# Python 3.11 + JRE 17 + pyspark + CPU torch. The entrypoint is `python -m`; the first argument
# names the step module:
#   docker run nolabel/spark:TAG nolabel.components.transfer run-json '{"dataset": "lion"}'
#   docker run nolabel/spark:TAG nolabel.components.lime run-json @params.json
# (Kubernetes Jobs may equally set command: ["python", "-m", "nolabel.components.lime", "run-json", ...].)
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
ARG JRE_IMAGE=eclipse-temurin:17.0.13_11-jre-jammy

# ---- JRE 17 from the Temurin image (a self-contained /opt/java/openjdk tree) -----------------
FROM ${JRE_IMAGE} AS jre

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
# The converted COCO detectors LIME chooses among (`make docker-local` copies them here).
RUN mkdir -p /opt/weights && if [ -d /opt/local/weights ]; then cp -r /opt/local/weights/. /opt/weights/; fi
RUN python -m venv /opt/venv \
    && pip install "pip>=24" "setuptools>=77.0.3,<82" "wheel>=0.43"
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

# ---- runtime: venv + JRE, no compilers, non-root ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="nolabel-spark" \
      org.opencontainers.image.description="nolabel transfer and lime steps (Spark, CPU torch)" \
      org.opencontainers.image.licenses="MIT"
ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/venv/bin:/opt/java/openjdk/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    SPARK_LOCAL_IP=127.0.0.1 \
    HOME=/home/nolabel \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    NOLABEL_HOME=/var/lib/nolabel \
    NOLABEL_WEIGHTS_DIR=/opt/nolabel/weights
# procps: Spark's launch scripts call `ps`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 nolabel \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/nolabel \
       --shell /usr/sbin/nologin nolabel \
    && mkdir -p /var/lib/nolabel \
    && chown 10001:10001 /var/lib/nolabel
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=builder /opt/venv /opt/venv
COPY --from=project /wheelhouse /tmp/wheelhouse
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-index \
        /tmp/wheelhouse/nolabel-*.whl \
    && rm -rf /tmp/wheelhouse
COPY --from=builder /opt/weights /opt/nolabel/weights
RUN java -version \
    && python -m nolabel.components.transfer --help > /dev/null \
    && python -m nolabel.components.lime --help > /dev/null
WORKDIR /home/nolabel
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["nolabel.components.transfer", "--help"]
