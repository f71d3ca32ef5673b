# Entrenador con GPU NVIDIA (CUDA), desde la raíz del repositorio:
#   docker build -f docker/trainer-cuda.Dockerfile -t llm-desde-cero-trainer:cuda .
# (o `make docker-build DEVICE=cuda`). Se ejecuta con `--gpus all` o con compose.gpu.yaml, que
# reserva la GPU. El host necesita el controlador de NVIDIA y el NVIDIA Container Toolkit.
#
# Base: la imagen runtime de CUDA (Ubuntu 22.04, que trae python3.11 en sus repositorios).
# torch 2.13.0 se publica para CUDA 13.0 (cu130); con un controlador anterior al 580 usa una
# versión de CUDA que tu controlador admita, por ejemplo:
#   --build-arg CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04 \
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
# Sin sintaxis de BuildKit a propósito: vale también para el constructor clásico y buildah.

ARG CUDA_IMAGE=nvidia/cuda:13.0.0-runtime-ubuntu22.04

# ---------------------------------------------------------------------------------------------
# build: un entorno virtual en /opt/venv con las dependencias fijadas. pip, el módulo venv y las
# listas de apt se quedan en esta etapa; a la final solo pasa /opt/venv.
FROM ${CUDA_IMAGE} AS build

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ARG PIP_VERSION=25.3
# torch 2.13 pide setuptools>=77 y el que trae el venv de Python 3.11 es anterior: se fija uno
# de PyPI para que pip no lo busque en el índice de PyTorch.
ARG SETUPTOOLS_VERSION=80.9.0
# Opciones extra de `python -m venv`. Vacío en un host normal. Las pruebas de este repositorio
# construyen la imagen sobre una base sustituta sin CUDA que ya trae torch en su Python del
# sistema y usan --system-site-packages para que pip lo dé por instalado.
ARG VENV_ARGS=

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Las versiones de python3.11 cambian con cada actualización de seguridad de Ubuntu: fijarlas
# rompería la construcción en cuanto salga la siguiente.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

RUN /usr/bin/python3.11 -m venv ${VENV_ARGS} /opt/venv \
    && /opt/venv/bin/python -m pip install "pip==${PIP_VERSION}" \
        "setuptools==${SETUPTOOLS_VERSION}"
ENV PATH=/opt/venv/bin:${PATH}

COPY pyproject.toml docker/requirements.py requirements/train.txt /tmp/deps/
RUN python /tmp/deps/requirements.py /tmp/deps/pyproject.toml --only torch > /tmp/deps/torch.txt \
    && pip install --no-deps --index-url "${TORCH_INDEX_URL}" -r /tmp/deps/torch.txt \
    && pip install --require-hashes --no-deps -r /tmp/deps/train.txt \
    && python -m pip uninstall -y pip \
    && rm -rf /tmp/deps

# ---------------------------------------------------------------------------------------------
# trainer: la misma base con solo el intérprete, el entorno virtual y el código.
FROM ${CUDA_IMAGE} AS trainer

ARG CUDA_IMAGE
ARG APP_UID=1000
ARG APP_GID=1000

ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 \
    && rm -rf /var/lib/apt/lists/*

# Usuario `app` sin privilegios, como en la imagen CPU (docker/Dockerfile).
RUN groupadd --gid "${APP_GID}" app \
    && useradd --uid "${APP_UID}" --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app \
    && mkdir -p /checkpoints \
    && chown app:app /checkpoints

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    LLM_NO_PROGRESS=1 \
    CHECKPOINT_DIR=/checkpoints \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
COPY shared/ /app/shared/
COPY trainer/ /app/trainer/
COPY data/ /app/data/
COPY docker/trainer-entrypoint.sh /app/docker/trainer-entrypoint.sh

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="llm-desde-cero-trainer-cuda" \
      org.opencontainers.image.description="Entrenador (GPU NVIDIA, CUDA) de un modelo de lenguaje de caracteres hecho desde cero" \
      org.opencontainers.image.vendor="llm-desde-cero" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${CUDA_IMAGE}"

USER app
ENTRYPOINT ["bash", "/app/docker/trainer-entrypoint.sh"]
