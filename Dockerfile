# Passeur: one image for the API (`passeur serve`) and the workers (`passeur worker`).
#
#   docker build -t passeur .                                  # CPU (python:3.11-slim)
#   docker build --build-arg BASE=cuda -t passeur:cuda .       # NVIDIA GPU; run with --gpus all
#   docker build --build-arg BAKE_MODELS=1 -t passeur:baked .  # models pulled into the image
#
#   docker run -p 8000:8000 -v passeur-models:/app/models/cache -v passeur-data:/app/data passeur
#   docker run -v passeur-models:/app/models/cache passeur worker --store ...
#
# The image runs offline (HF_HUB_OFFLINE=1): models come baked in or from the mounted cache,
# filled beforehand with `docker run -e HF_HUB_OFFLINE=0 ... passeur models pull`.
# The HEALTHCHECK probes the API's /healthz: a worker-only container has no HTTP port, so
# compose files disable it there (`healthcheck: {disable: true}`).

ARG BASE=cpu

FROM python:3.11-slim AS base-cpu
# The CPU build of torch: the default one from PyPI bundles several GB of CUDA libraries.
ENV TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04 AS base-cuda
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# The default index's Linux torch is the CUDA build: no extra index.
ENV TORCH_INDEX_URL=

FROM base-${BASE}
# Pinned like the Makefile's; the project's own range (pyproject.toml) admits it, so
# installing the project afterwards keeps this build of torch.
ARG TORCH_VERSION=2.13.0
ARG BAKE_MODELS=0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python3 -m venv /opt/venv \
    && pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install . && rm -rf build ./*.egg-info

COPY models/registry.toml ./models/registry.toml
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin passeur \
    && mkdir -p /app/models/cache /app/data \
    && chown -R passeur:passeur /app/models/cache /app/data
USER passeur
ENV PASSEUR_MODELS_DIR=/app/models

# Downloads happen here or not at all: after this line the image never goes online.
RUN if [ "$BAKE_MODELS" = "1" ]; then passeur models pull; fi
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PASSEUR_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["passeur"]
CMD ["serve", "--host", "0.0.0.0"]
