#!/usr/bin/env bash
# Make the base images offline, from Debian packages only, when no image registry is reachable:
#   nolabel-base/debian:bookworm        debootstrap minbase, imported
#   nolabel-base/python:3.11-bookworm  + python3.11 (venv) + CA certificates
#   nolabel-base/jre:17                 the above + a self-contained JRE 17 tree at /opt/java/openjdk
# Then: make images BASE=offline (passes them as PYTHON_IMAGE / JRE_IMAGE).
# Needs root, debootstrap and a reachable Debian mirror (MIRROR, default: the one apt uses).
set -euo pipefail
PYTHON_IMAGE=${PYTHON_IMAGE:-nolabel-base/python:3.11-bookworm}
JRE_IMAGE=${JRE_IMAGE:-nolabel-base/jre:17}
DEBIAN_IMAGE=${DEBIAN_IMAGE:-nolabel-base/debian:bookworm}
DOCKER=${DOCKER:-docker}
if [[ -z "${MIRROR:-}" ]]; then
  MIRROR=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 | awk '{print $NF}' || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
if [[ "${FORCE:-0}" != 1 ]] && "$DOCKER" image inspect "$PYTHON_IMAGE" "$JRE_IMAGE" >/dev/null 2>&1; then
  echo "base images present: $PYTHON_IMAGE $JRE_IMAGE (FORCE=1 remakes them)"
  exit 0
fi
rootfs=$(mktemp -d /tmp/nolabel-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
echo "deb $MIRROR bookworm main" > "$rootfs/etc/apt/sources.list"
tar -C "$rootfs" -c . | "$DOCKER" import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$DEBIAN_IMAGE" >/dev/null
echo "made $DEBIAN_IMAGE"
build() {  # build TAG BASE < Dockerfile
  DOCKER_BUILDKIT=1 "$DOCKER" build --network host -q -t "$1" --build-arg BASE="$2" - >/dev/null
  echo "made $1"
}
# Like the official slim images: python on PATH, no apt lists, apt-get update works in builds.
build "$PYTHON_IMAGE" "$DEBIAN_IMAGE" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python-is-python3 \
       ca-certificates \
    && rm -rf /var/lib/apt/lists/* && python --version
CMD ["python3"]
DOCKERFILE
build "$JRE_IMAGE" "$PYTHON_IMAGE" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && mkdir -p /opt/java \
    && cp -aL "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java/openjdk \
    && /opt/java/openjdk/bin/java -version \
    && rm -rf /var/lib/apt/lists/*
DOCKERFILE
