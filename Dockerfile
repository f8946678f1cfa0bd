# syntax=docker/dockerfile:1
# Two images from one build (docs/deploy.md):
#   docker build --target server -t voxforge-server .   the REST service (`voxforge serve`)
#   docker build --target worker -t voxforge-worker .   a Ray worker node that runs jobs and batch items
# Both hold the same Python environment (pyproject.toml with the postgres, scaleout and ray
# extras, torch==2.13.0 CPU), so a job runs the same code wherever Ray places it.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    VOXFORGE_MODELS=/opt/voxforge/models
# Shared libraries some wheels load (libGL, glib, OpenMP); curl for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libgomp1 curl \
    && rm -rf /var/lib/apt/lists/*
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /opt/voxforge
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install ".[postgres,scaleout,ray]"
COPY models ./models
RUN useradd --uid 1000 --home-dir /srv/voxforge --create-home voxforge \
    && mkdir /data && chown voxforge /data
USER voxforge
WORKDIR /srv/voxforge

FROM base AS server
ENV VOXFORGE_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["voxforge", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM base AS worker
# RAY_ADDRESS: the head node (HOST:6379); the worker offers all its CPUs to the cluster.
ENV RAY_ADDRESS=ray-head:6379
CMD ["sh", "-c", "exec ray start --address=\"$RAY_ADDRESS\" --block"]
