# llm-desde-cero: la puerta de entrada. `make help` lista los objetivos.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Ajustes: se pueden cambiar en la línea (make train MAX_STEPS=200) o en un fichero .env.
# Vacío (MAX_STEPS= en .env o en el entorno) vale lo mismo que sin definir: el valor por defecto.
-include .env

# Python 3.11, 3.12 o 3.13. Vacío: lo elige scripts/find-python.sh (python3 si vale; si no,
# python3.13, 3.12 o 3.11). Con PYTHON=python3.12 (o una ruta) se usa ese, tras comprobarlo.
PYTHON ?=
# Índice de pip para torch. Vacío: lo elige scripts/install_torch.py (la rueda CPU si no hay GPU
# NVIDIA). Ejemplo: TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 para otro CUDA.
TORCH_INDEX_URL ?=
VENV ?= .venv
PY := $(VENV)/bin/python
# Los ajustes de entrenar y generar no tienen aquí valor por defecto: vacíos o sin definir, su
# flag no se pasa y rige el del programa (trainer/settings.py para python -m trainer,
# trainer/generate.py para python -m trainer.generate; los muestran su --help y docs/).
# tests/test_default_copies.py falla si un valor por defecto vuelve a escribirse aquí.
# MODEL sí lo necesita make (la carpeta de abajo); tests/test_settings_sources.py lo compara.
MODEL := $(or $(MODEL),gpt)
# Un modelo por carpeta: make train escribe en checkpoints/gpt y make train-bigram en
# checkpoints/bigram. MODEL elige cuál usan generate, evaluate y serve (MODEL=bigram).
# Recursiva (=): cada objetivo la expande con su MODEL (train-bigram fija MODEL=bigram).
ifeq ($(strip $(CHECKPOINT_DIR)),)
CHECKPOINT_DIR = checkpoints/$(MODEL)
endif
# Vacía = una semilla al azar, que make generate muestra para poder repetir el texto.
GEN_SEED ?=
TRAIN_ARGS ?=
# Tope de memoria del entrenador y de la carga de checkpoints (vacío = la memoria disponible).
MEMORY_LIMIT ?=
export MEMORY_LIMIT
COMPARE_OUT ?= build/comparacion
QUICK ?=
COMPARE_ARGS ?=

# $(call opt,--flag,VARIABLE): «--flag "valor"» si la variable tiene valor; si no, nada.
opt = $(if $(strip $($(2))),$(1) "$($(2))")
TRAIN_COMMON = $(strip --model $(MODEL) --checkpoint-dir "$(CHECKPOINT_DIR)" \
	$(call opt,--data,DATA) $(call opt,--max-steps,MAX_STEPS) $(call opt,--device,DEVICE) \
	$(call opt,--batch-size,BATCH_SIZE) $(call opt,--block-size,BLOCK_SIZE) \
	$(call opt,--seed,SEED) $(call opt,--tokenizer,TOKENIZER) \
	$(call opt,--vocab-size,VOCAB_SIZE) $(TRAIN_ARGS))
GPT_FLAGS = $(strip $(call opt,--n-embd,N_EMBD) $(call opt,--n-head,N_HEAD) \
	$(call opt,--n-layer,N_LAYER))
GENERATE_FLAGS = $(strip $(call opt,--prompt,PROMPT) $(call opt,--max-new-tokens,GEN_TOKENS) \
	$(call opt,--temperature,TEMPERATURE) $(call opt,--top-k,TOP_K) $(call opt,--seed,GEN_SEED))
COMPARE_FLAGS = $(strip $(call opt,--data,DATA) $(call opt,--device,DEVICE) \
	$(call opt,--seed,SEED) $(if $(QUICK),--quick) $(COMPARE_ARGS))

.PHONY: help install install-dev lock train train-bigram generate evaluate test lint format clean
.PHONY: docker-build docker-train up down logs smoke lint-docker test-docker
.PHONY: serve test-browser bench bench-class test-pythons compare figures docs-figures docs-tables test-docs
.PHONY: check-windows notebook test-notebook

help: ## Muestra esta ayuda
	@echo "llm-desde-cero — objetivos de make:"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo
	@echo "Ajustes (en la línea o en .env): MODEL DATA MAX_STEPS DEVICE CHECKPOINT_DIR N_EMBD"
	@echo "  N_HEAD N_LAYER BATCH_SIZE BLOCK_SIZE SEED TOKENIZER VOCAB_SIZE TRAIN_ARGS PROMPT"
	@echo "  GEN_TOKENS TEMPERATURE TOP_K GEN_SEED. Carpeta de checkpoints: checkpoints/\$$MODEL (gpt o bigram)."
	@echo "  Vacíos: el valor por defecto del programa ($(PY) -m trainer --help, -m trainer.generate"
	@echo "  --help; docs/entrenar.md y docs/generar.md)."
	@echo "Comparación: QUICK=1 (versión corta) COMPARE_OUT COMPARE_ARGS (también en make figures)"
	@echo "Servidor (en el entorno o en .env): HOST PORT CHECKPOINT_DIR WEB_CONCURRENCY API_KEY..."
	@echo "  la lista completa: $(PY) -m server --help"
	@echo "Instalación: PYTHON (3.11–3.13; vacío: lo busca) TORCH_INDEX_URL (vacío: CPU sin GPU"
	@echo "  NVIDIA) — docs/instalar.md"

# --- Instalación: dos conjuntos de dependencias, cada uno con su marca en .venv -----------
# runtime (entrenar, generar, servir): torch y los extras train + serve de pyproject.toml. dev
# (pruebas y estilo) suma el extra dev: pytest, ruff, playwright, schemathesis...
# torch va primero y aparte: scripts/install_torch.py decide de dónde (la rueda CPU de unos
# 190 MB donde no hay GPU NVIDIA, en vez de los 2,8 GB con CUDA de PyPI) y lo explica.
# El resto sale de los bloqueos con hashes (requirements/*.txt, make lock): las mismas versiones
# de todo, transitivas incluidas, en cada instalación. El proyecto se instala después, editable
# (el código de la carpeta es el que corre) y sin dependencias (ya están). setuptools lo anuncia
# con un recuadro de 10 líneas ("Editable installation..."): solo ese aviso se calla.
PIP_LOCKED := $(PY) -m pip install --quiet --require-hashes --no-deps -r
PIP_EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet \
	--no-deps -e
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

$(PY):
	@py="$$(sh scripts/find-python.sh "$(PYTHON)")" || exit 1; \
		echo "Creando $(VENV) con $$py ($$("$$py" --version 2>&1))"; \
		"$$py" -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml $(wildcard requirements/local.txt) | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	TORCH_INDEX_URL="$(TORCH_INDEX_URL)" $(PY) scripts/install_torch.py
	$(PIP_LOCKED) requirements/local.txt
	$(PIP_EDITABLE) .
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) $(wildcard requirements/dev.txt)
	$(PIP_LOCKED) requirements/dev.txt
	@touch $@

# Los bloqueos: pip-compile (de pip-tools, en su propio entorno) resuelve cada uso a partir de
# lo fijado en pyproject.toml y de lo que pide torch (docker/requirements.py), con hashes.
# train y serve son los de cada imagen; local (train + serve) el de make install; dev, todo.
LOCK_TOOL := $(VENV)/tools/bin/pip-compile
LOCKS := train:train serve:serve local:train,serve dev:train,serve,dev
$(LOCK_TOOL): | $(PY)
	$(PY) -m venv $(VENV)/tools
	$(VENV)/tools/bin/python -m pip install --quiet pip-tools==7.7.0

lock: $(LOCK_TOOL) ## Regenera requirements/*.txt (todas las dependencias, con hashes)
	TORCH_INDEX_URL="$(TORCH_INDEX_URL)" $(PY) scripts/install_torch.py
	@mkdir -p build/lock
	@for pair in $(LOCKS); do name=$${pair%%:*}; extras=$${pair#*:}; \
		echo "requirements/$$name.txt ($$extras)"; \
		$(PY) docker/requirements.py pyproject.toml --lock-input $$extras \
			> build/lock/$$name.in || exit 1; \
		CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOL) --quiet --generate-hashes \
			--allow-unsafe --strip-extras --no-header --no-emit-index-url \
			--no-emit-find-links --resolver backtracking \
			--output-file requirements/$$name.txt build/lock/$$name.in || exit 1; \
	done

# La marca de antes (todo instalado), para objetivos escritos antes de separar los dos conjuntos.
$(VENV)/.installed: $(DEV_STAMP)
	@touch $@

# Con una línea propia, make no dice en inglés «Nothing to be done» cuando ya estaba todo.
install: $(RUNTIME_STAMP) ## Crea .venv con las dependencias para entrenar, generar y servir
	@echo "$(VENV) tiene lo necesario para entrenar, generar y servir."

install-dev: $(DEV_STAMP) ## Suma a .venv las de pruebas y estilo (pytest, ruff, playwright...)
	@echo "$(VENV) tiene también las herramientas de pruebas y estilo."

# Cada objetivo fija su modelo (y con él su carpeta, checkpoints/gpt o checkpoints/bigram).
train: override MODEL := gpt
train-bigram: override MODEL := bigram

train: $(RUNTIME_STAMP) ## Entrena el mini GPT (en checkpoints/gpt)
	$(PY) -m trainer $(strip $(GPT_FLAGS) $(TRAIN_COMMON))

train-bigram: $(RUNTIME_STAMP) ## Entrena el modelo bigrama (en checkpoints/bigram)
	$(PY) -m trainer $(TRAIN_COMMON)

generate: $(RUNTIME_STAMP) ## Genera texto con el último checkpoint (PROMPT="..." MODEL=bigram GEN_SEED=N)
	$(PY) -m trainer.generate --ckpt "$(CHECKPOINT_DIR)" $(GENERATE_FLAGS)

evaluate: $(RUNTIME_STAMP) ## Pérdida del último checkpoint en su split de validación
	$(PY) -m trainer.evaluate --ckpt "$(CHECKPOINT_DIR)"

compare: $(RUNTIME_STAMP) ## Bigrama vs GPT y barrido bloque/capas/cabezas: informe HTML (QUICK=1)
	$(PY) -m trainer.compare --out "$(COMPARE_OUT)" $(COMPARE_FLAGS)

# Las figuras de docs/aprender.md: la comparación rápida con el texto del proyecto, desde cero,
# en build/figuras/ (con el GPT base como gpt.pt, para el paso 3 de la lección). Los ficheros
# de docs/img/ los sigue git: solo los cambia make docs-figures, cuando se pide.
FIGURES_OUT := build/figuras
DOCS_FIGURES := bigrama-gpt.png curvas.png barrido.png bigrama.png atencion.png bits-tiempo.png
ATTENTION_PROMPT := El niño soñó que la casa
figures: $(RUNTIME_STAMP) ## Dibuja en build/figuras/ las figuras de docs/aprender.md (~1 min de CPU)
	rm -rf "$(FIGURES_OUT)"
	$(PY) -m trainer.compare --data data/tiny_spanish.txt --out "$(FIGURES_OUT)" --quick $(COMPARE_ARGS)
	cp "$$(ls "$(FIGURES_OUT)"/runs/gpt-????????????.pt)" "$(FIGURES_OUT)"/gpt.pt
	$(PY) -m trainer.plot "$(FIGURES_OUT)"/runs/bigrama-*.pt --out "$(FIGURES_OUT)"/bigrama.png \
		--title "El bigrama: 200 pasos con data/tiny_spanish.txt"
	$(PY) -m trainer.attention --ckpt "$(FIGURES_OUT)"/gpt.pt \
		--prompt "$(ATTENTION_PROMPT)" --out "$(FIGURES_OUT)"/atencion.png \
		--title "Atención del GPT de la comparación rápida (200 pasos)"

docs-figures: ## Copia a docs/img/ las figuras de make figures (cambia ficheros que sigue git)
	@for f in $(DOCS_FIGURES); do [ -f "$(FIGURES_OUT)/$$f" ] || \
		{ echo "error: falta $(FIGURES_OUT)/$$f; antes: make figures" >&2; exit 1; }; done
	mkdir -p docs/img
	cd "$(FIGURES_OUT)" && cp $(DOCS_FIGURES) "$(CURDIR)"/docs/img/

serve: $(RUNTIME_STAMP) ## Sirve el último checkpoint con gunicorn: API, playground y /docs (MODEL=bigram)
	CHECKPOINT_DIR="$(CHECKPOINT_DIR)" $(PY) -m server

test: $(DEV_STAMP) ## Ejecuta las pruebas (pytest), salvo navegador, Docker, cuaderno y documentación
	$(PY) -m pytest -q -m "not browser and not docker and not notebook and not docs"

# El cuaderno de la clase: docs/cuaderno/clase.ipynb sale de docs/cuaderno/clase.py (jupytext) y
# del texto que comparte con docs/aprender.md (scripts/build_notebook.py explica cómo).
notebook: $(DEV_STAMP) ## Regenera docs/cuaderno/clase.ipynb (de clase.py y docs/aprender.md)
	$(PY) scripts/build_notebook.py

test-notebook: $(DEV_STAMP) ## Ejecuta el cuaderno entero en un núcleo de Jupyter (unos minutos)
	$(PY) -m pytest -q -m notebook tests/test_notebook.py

# Cada orden de README.md y docs/aprender.md, tal como está escrita, en orden, en un clon nuevo
# del repositorio (con su propio .venv): unos 10 min de CPU, por eso va aparte.
test-docs: $(DEV_STAMP) ## Ejecuta las órdenes del README y de la lección en un clon nuevo (~10 min)
	$(PY) -m pytest -q -m docs tests/test_docs_commands.py

# Lo que no necesita torch (tokenizador, configuración, ajustes y errores, la instalación) con
# cada Python 3.11–3.13 de la máquina, en entornos con solo pytest y python-dotenv en
# $(VENV)/pythons/: torch 2.13 CPU no está en todas partes para cada versión y aquí no hace falta.
NO_TORCH_TESTS := tests/test_tokenizer.py tests/test_no_torch.py tests/test_install.py
test-pythons: $(DEV_STAMP) ## Pruebas sin torch con cada Python 3.11–3.13 que encuentre
	@pins="$$($(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print(*[d for d in p["dependencies"] + p["optional-dependencies"]["dev"] \
		if d.split("==")[0] in ("pytest", "python-dotenv")])')"; \
	pys="$$(sh scripts/find-python.sh --all)"; \
	[ -n "$$pys" ] || { echo "error: no hay ningún Python 3.11–3.13 con venv" >&2; exit 1; }; \
	for py in $$pys; do \
		v="$$("$$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
		env="$(VENV)/pythons/$$v"; echo "== Python $$v ($$py)"; \
		[ -x "$$env/bin/python" ] || "$$py" -m venv "$$env" || exit 1; \
		"$$env/bin/python" -m pip install --quiet $$pins || exit 1; \
		PYTHONPYCACHEPREFIX="$$env/pycache" "$$env/bin/python" -W error -m compileall -q \
			shared trainer server scripts docker tests >/dev/null || exit 1; \
		"$$env/bin/python" -m pytest -q -p no:cacheprovider --noconftest $(NO_TORCH_TESTS) \
			|| exit 1; \
	done

test-browser: $(DEV_STAMP) ## Prueba el playground en Chromium sin ventana (lo instala si falta)
	bash tests/install_system_deps.sh
	$(PY) -m pytest -q -m browser tests/server

bench: $(RUNTIME_STAMP) ## Mide entrenamiento, generación, servidor, carga y CPU ocupada (BENCH_ARGS="--quick")
	$(PY) -m bench $(BENCH_ARGS)

bench-class: $(RUNTIME_STAMP) ## Una clase a la vez contra docker compose up, 1 y 3 réplicas (necesita Docker)
	$(PY) -m bench.class_compose $(BENCH_ARGS)

# Las opciones del entrenamiento (trainer/settings.py) y las variables del servidor
# (server/settings.py) se declaran una vez; de ahí salen las tablas de docs/entrenar.md y
# docs/servidor.md y la sección del servidor de .env.example (unas pruebas comprueban que están al día).
docs-tables: $(RUNTIME_STAMP) ## Regenera las tablas de opciones y variables (docs/, .env.example)
	$(PY) -m trainer.options_doc
	$(PY) -m server.settings_doc

lint: $(DEV_STAMP) ## Comprueba estilo y formato con ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Windows sin Windows: pyright lee shared/ y trainer/ con pythonPlatform = "Windows" ([tool.pyright]
# en pyproject.toml) y falla si usan algo que allí no existe (fcntl, os.setsid, SIGUSR1...).
# pyright es un paquete de npm (necesita Node.js): va fijado en su carpeta de $(VENV)/tools.
PYRIGHT_VERSION := 1.1.414
PYRIGHT := $(VENV)/tools/pyright-$(PYRIGHT_VERSION)/node_modules/.bin/pyright
$(PYRIGHT):
	npm install --silent --no-audit --no-fund --prefix $(VENV)/tools/pyright-$(PYRIGHT_VERSION) \
		pyright@$(PYRIGHT_VERSION)

check-windows: $(DEV_STAMP) $(PYRIGHT) ## Comprueba con pyright que shared/ y trainer/ no usan nada que Windows no tenga
	$(PYRIGHT) --pythonpath $(PY) --project pyproject.toml

format: $(DEV_STAMP) ## Formatea el código con ruff
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Borra cachés (no toca checkpoints ni .venv)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

# --- Docker (sección «Docker» del README y docs/docker.md) ----------------------------------
DOCKER ?= docker
# DEVICE=cuda (o cuda:N): entrenador con GPU NVIDIA, compose.gpu.yaml se suma a compose.yaml.
COMPOSE = $(DOCKER) compose $(if $(filter cuda cuda:%,$(DEVICE)),-f compose.yaml -f compose.gpu.yaml)
# El contenedor entrena con los mismos valores que `make train` (y los mismos de .env); MODEL
# (gpt por defecto) elige el modelo y la carpeta del volumen: /checkpoints/gpt o /checkpoints/bigram.
DOCKER_TRAIN_ENV = MODEL="$(MODEL)" DATA="$(DATA)" MAX_STEPS="$(MAX_STEPS)" DEVICE="$(DEVICE)" \
	N_EMBD="$(N_EMBD)" N_HEAD="$(N_HEAD)" N_LAYER="$(N_LAYER)" BATCH_SIZE="$(BATCH_SIZE)" \
	BLOCK_SIZE="$(BLOCK_SIZE)" SEED="$(SEED)" TOKENIZER="$(TOKENIZER)" \
	VOCAB_SIZE="$(VOCAB_SIZE)" TRAIN_ARGS="$(TRAIN_ARGS)" \
	GIT_REVISION="$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Con CHECKPOINTS_MOUNT=./checkpoints (una carpeta del host) la creamos nosotros: si la creara
# Docker sería de root y el entrenador, sin privilegios, no podría escribir en ella.
MAKE_CHECKPOINTS_MOUNT = $(if $(filter . .. ./% ../% /%,$(CHECKPOINTS_MOUNT)),mkdir -p "$(CHECKPOINTS_MOUNT)")

docker-build: ## Construye las imágenes del entrenador (DEVICE=cpu|cuda), del servidor y de nginx
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

logs: ## Sigue los registros del entrenador, del servidor y de nginx
	$(COMPOSE) logs -f --tail=100

smoke: ## Espera a /ready y pide un texto a /generate con curl
	HOST="$(HOST)" PORT="$(PORT)" API_KEY="$(API_KEY)" PROMPT="$(PROMPT)" DOCKER="$(DOCKER)" \
		bash docker/smoke.sh

lint-docker: $(DEV_STAMP) ## Revisa los Dockerfile con hadolint
	$(VENV)/bin/hadolint --failure-threshold error docker/Dockerfile docker/trainer-cuda.Dockerfile

test-docker: lint-docker ## Pruebas con contenedores reales: construir, compose up, /generate, down
	$(PY) -m pytest -m docker tests/docker -q
