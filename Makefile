# llm-desde-cero: la puerta de entrada. `make help` lista los objetivos.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Ajustes: se pueden cambiar en la línea (make train MAX_STEPS=200) o en un fichero .env.
-include .env

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= data/tiny_spanish.txt
MAX_STEPS ?= 2000
DEVICE ?= auto
CHECKPOINT_DIR ?= checkpoints
N_EMBD ?= 128
N_HEAD ?= 4
N_LAYER ?= 2
BATCH_SIZE ?= 32
BLOCK_SIZE ?= 128
SEED ?= 1337
PROMPT ?= Hola
GEN_TOKENS ?= 300
TEMPERATURE ?= 0.8
TOP_K ?= 50
TRAIN_ARGS ?=

TRAIN_COMMON = --data "$(DATA)" --max-steps $(MAX_STEPS) --device $(DEVICE) \
	--checkpoint-dir "$(CHECKPOINT_DIR)" --batch-size $(BATCH_SIZE) --block-size $(BLOCK_SIZE) \
	--seed $(SEED) $(TRAIN_ARGS)

.PHONY: help install train train-bigram generate evaluate test lint format clean
.PHONY: docker-build docker-train up down logs smoke lint-docker test-docker
.PHONY: serve test-browser bench

help: ## Muestra esta ayuda
	@echo "llm-desde-cero — objetivos de make:"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo
	@echo "Ajustes (en la línea o en .env): DATA MAX_STEPS DEVICE CHECKPOINT_DIR N_EMBD N_HEAD"
	@echo "  N_LAYER BATCH_SIZE BLOCK_SIZE SEED TRAIN_ARGS PROMPT GEN_TOKENS TEMPERATURE TOP_K"
	@echo "Servidor (en el entorno o en .env): HOST PORT CHECKPOINT_DIR WEB_CONCURRENCY API_KEY..."
	@echo "  la lista completa: $(PY) -m server --help"

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: hace falta $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed ## Crea el entorno virtual .venv con las dependencias fijadas

train: $(VENV)/.installed ## Entrena el mini GPT con los valores por defecto
	$(PY) -m trainer --model gpt --n-embd $(N_EMBD) --n-head $(N_HEAD) --n-layer $(N_LAYER) \
		$(TRAIN_COMMON)

train-bigram: $(VENV)/.installed ## Entrena el modelo bigrama
	$(PY) -m trainer --model bigram $(TRAIN_COMMON)

generate: $(VENV)/.installed ## Genera texto con el último checkpoint (PROMPT="...")
	$(PY) -m trainer.generate --ckpt "$(CHECKPOINT_DIR)" --prompt "$(PROMPT)" \
		--max-new-tokens $(GEN_TOKENS) --temperature $(TEMPERATURE) --top-k $(TOP_K)

evaluate: $(VENV)/.installed ## Pérdida del último checkpoint en su split de validación
	$(PY) -m trainer.evaluate --ckpt "$(CHECKPOINT_DIR)"

serve: $(VENV)/.installed ## Sirve el último checkpoint con gunicorn: API, playground y /docs
	CHECKPOINT_DIR="$(CHECKPOINT_DIR)" $(PY) -m server

test: $(VENV)/.installed ## Ejecuta las pruebas (pytest), salvo las de navegador y Docker
	$(PY) -m pytest -q -m "not browser and not docker"

test-browser: $(VENV)/.installed ## Prueba el playground en Chromium sin ventana (lo instala si falta)
	bash tests/install_system_deps.sh
	$(PY) -m pytest -q -m browser tests/server

bench: $(VENV)/.installed ## Mide entrenamiento, generación, servidor, carga y CPU ocupada (BENCH_ARGS="--quick")
	$(PY) -m bench $(BENCH_ARGS)

lint: $(VENV)/.installed ## Comprueba estilo y formato con ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed ## Formatea el código con ruff
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Borra cachés (no toca checkpoints ni .venv)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

# --- Docker (sección «Docker» del README) ---------------------------------------------------
DOCKER ?= docker
# DEVICE=cuda (o cuda:N): entrenador con GPU NVIDIA, compose.gpu.yaml se suma a compose.yaml.
COMPOSE = $(DOCKER) compose $(if $(filter cuda cuda:%,$(DEVICE)),-f compose.yaml -f compose.gpu.yaml)
# El contenedor entrena con los mismos valores que `make train` (y los mismos de .env).
DOCKER_TRAIN_ENV = MODEL=gpt DATA="$(DATA)" MAX_STEPS="$(MAX_STEPS)" DEVICE="$(DEVICE)" \
	N_EMBD="$(N_EMBD)" N_HEAD="$(N_HEAD)" N_LAYER="$(N_LAYER)" BATCH_SIZE="$(BATCH_SIZE)" \
	BLOCK_SIZE="$(BLOCK_SIZE)" SEED="$(SEED)" TRAIN_ARGS="$(TRAIN_ARGS)" \
	GIT_REVISION="$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Con CHECKPOINTS_MOUNT=./checkpoints (una carpeta del host) la creamos nosotros: si la creara
# Docker sería de root y el entrenador, sin privilegios, no podría escribir en ella.
MAKE_CHECKPOINTS_MOUNT = $(if $(filter . .. ./% ../% /%,$(CHECKPOINTS_MOUNT)),mkdir -p "$(CHECKPOINTS_MOUNT)")

docker-build: ## Construye las imágenes del entrenador (DEVICE=cpu|cuda) y del servidor
	$(DOCKER_TRAIN_ENV) $(COMPOSE) build

docker-train: ## Entrena en un contenedor (DEVICE=cpu|cuda); checkpoints en el volumen
	$(MAKE_CHECKPOINTS_MOUNT)
	$(DOCKER_TRAIN_ENV) $(COMPOSE) build trainer
	$(DOCKER_TRAIN_ENV) $(COMPOSE) run --rm trainer

up: ## docker compose up: entrena y sirve en segundo plano (DEVICE=cpu|cuda)
	$(MAKE_CHECKPOINTS_MOUNT)
	$(DOCKER_TRAIN_ENV) $(COMPOSE) up -d --build
	@echo "Servidor en http://127.0.0.1:$(or $(PORT),8000) — make logs (registros), make smoke (prueba)"

down: ## Para y borra los contenedores (los checkpoints del volumen se conservan)
	$(COMPOSE) down

logs: ## Sigue los registros del entrenador y del servidor
	$(COMPOSE) logs -f --tail=100

smoke: ## Espera a /ready y pide un texto a /generate con curl
	HOST="$(HOST)" PORT="$(PORT)" API_KEY="$(API_KEY)" PROMPT="$(PROMPT)" bash docker/smoke.sh

lint-docker: $(VENV)/.installed ## Revisa los Dockerfile con hadolint
	$(VENV)/bin/hadolint --failure-threshold error docker/Dockerfile docker/trainer-cuda.Dockerfile

test-docker: lint-docker ## Pruebas con contenedores reales: construir, compose up, /generate, down
	$(PY) -m pytest -m docker tests/docker -q
