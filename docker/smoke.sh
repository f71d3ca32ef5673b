#!/usr/bin/env bash
# `make smoke`: espera a que el servidor tenga un modelo (/ready) y le pide un texto (/generate).
# Vale para el servidor en Docker (`make up`) y para el nativo (`make serve`).
#
# Distingue por qué no está listo, y solo sigue esperando cuando tiene sentido:
#   - nada escucha en HOST:PORT                      → se rinde a los SMOKE_GIVE_UP s (60);
#   - el contenedor del servidor se está reiniciando → se rinde en cuanto lo ve repetirse;
#   - el contenedor está en marcha pero aún arranca  → espera hasta SMOKE_BOOT_TIMEOUT s (180);
#   - el servidor responde pero aún no tiene modelo  → espera hasta SMOKE_TIMEOUT s (600): el
#     primer checkpoint llega con la primera evaluación del entrenamiento.
# Los contenedores se consultan con `docker compose ps` desde el directorio actual (el del
# proyecto; COMPOSE_PROJECT_NAME si no es el de compose.yaml). Sin Docker, solo HTTP.
# Ajustes: HOST, PORT, API_KEY, PROMPT, SMOKE_TIMEOUT, SMOKE_GIVE_UP, SMOKE_BOOT_TIMEOUT,
# DOCKER.
set -euo pipefail

host="${HOST:-127.0.0.1}"
# 0.0.0.0 o :: significan «todas las interfaces»: para conectarse, la de esta máquina.
case "$host" in 0.0.0.0 | "" | "::" | "[::]") host=127.0.0.1 ;; esac
port="${PORT:-8000}"
base="http://${host}:${port}"
timeout="${SMOKE_TIMEOUT:-600}"
give_up="${SMOKE_GIVE_UP:-60}"
boot_timeout="${SMOKE_BOOT_TIMEOUT:-180}"
prompt="${PROMPT:-Hola}"
docker_cmd="${DOCKER:-docker}"
auth=()
if [[ -n "${API_KEY:-}" ]]; then
	auth=(-H "Authorization: Bearer ${API_KEY}")
fi

fail() {
	echo "error: $1" >&2
	exit 1
}

# Código HTTP de un GET (000 si nadie responde).
http_code() {
	curl -s -o /dev/null -w '%{http_code}' --connect-timeout 3 --max-time 10 "${base}$1" || true
}

# Id del contenedor de un servicio de compose en este directorio ("" si no hay).
container() {
	command -v "$docker_cmd" >/dev/null 2>&1 || return 0
	"$docker_cmd" compose ps -a -q "$1" 2>/dev/null | head -n 1 || true
}

# «estado reinicios código» de un contenedor, p. ej. «running 3 1».
container_state() {
	"$docker_cmd" inspect --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' \
		"$1" 2>/dev/null || echo "desconocido 0 0"
}

# Las últimas líneas del registro de un contenedor. Sin `docker logs --tail`: podman se salta
# con él una última línea que no acaba en salto de línea (justo la del error).
log_tail() {
	"$docker_cmd" logs "$1" 2>&1 | tail -n "$2" || true
}

# «; última línea del registro: …» de un contenedor (nada si aún no ha escrito nada).
last_log_line() {
	local line
	line="$(log_tail "$1" 20 | grep -v '^[[:space:]]*$' | tail -n 1 || true)"
	if [[ -n "$line" ]]; then
		printf '; última línea del registro: %s' "$line"
	fi
}

# Por qué nada responde en HOST:PORT. Sale con error si el contenedor se reinicia en bucle.
why_not_listening() {
	local id state restarts code
	id="$(container server)"
	if [[ -z "$id" ]]; then
		reason="nada escucha en ${host}:${port} (¿está arrancado el servidor? make up o make serve)"
		return
	fi
	read -r state restarts code <<<"$(container_state "$id")"
	if [[ "$state" == restarting || "$restarts" -gt 0 ]]; then
		reason="el contenedor del servidor se está reiniciando (${restarts} reinicio(s), código \
${code}$(last_log_line "$id"))"
		# Un reinicio suelto puede pasar; dos ya son un bucle que no va a arreglarse solo.
		if [[ "$restarts" -ge 2 ]]; then
			fail "$reason"
		fi
	elif [[ "$state" == running ]]; then
		# Arrancando: cada worker carga PyTorch antes de responder, y en una máquina cargada eso
		# lleva su tiempo. Se le da más margen que a «nada escucha» (SMOKE_BOOT_TIMEOUT).
		reason="el contenedor del servidor está arrancando y aún no responde en ${host}:${port}\
$(last_log_line "$id")"
		booting=1
	else
		reason="nada escucha en ${host}:${port}; el contenedor del servidor está parado (estado \
${state}, código ${code}$(last_log_line "$id"))"
	fi
}

# Por qué el servidor aún no tiene modelo. Sale con error si el entrenador terminó mal.
why_no_model() {
	local id state restarts code step
	reason="el servidor responde pero aún no tiene modelo"
	id="$(container trainer)"
	if [[ -z "$id" ]]; then
		reason+=" (no hay ningún checkpoint en su CHECKPOINT_DIR: entrena uno con make train)"
		return
	fi
	read -r state restarts code <<<"$(container_state "$id")"
	if [[ "$state" == exited && "$code" != 0 ]]; then
		fail "${reason}, y el entrenador terminó con error (código ${code}$(last_log_line "$id"))"
	fi
	step="$(log_tail "$id" 200 | grep -o 'paso [0-9]*/[0-9]*' | tail -n 1 || true)"
	if [[ -n "$step" ]]; then
		reason+=" (entrenamiento en el ${step})"
	elif [[ "$state" == running ]]; then
		reason+=" (el entrenador está en marcha; el primer checkpoint llega con la primera evaluación)"
	else
		reason+=" (entrenador: ${state})"
	fi
}

echo "Esperando a que ${base}/ready responda 200 (máximo ${timeout} s)…"
start=$SECONDS
deadline=$((start + timeout))
down_since=$start
reason=""
said=""
said_at=0
while true; do
	health="$(http_code /health)"
	# 502: nginx (docker compose up) responde, pero ninguna réplica del servidor detrás.
	if [[ "$health" == 000 || "$health" == 502 ]]; then
		booting=0
		why_not_listening
		limit=$give_up
		if ((booting)); then
			limit=$boot_timeout
		fi
		if ((SECONDS - down_since >= limit)); then
			fail "${reason} (tras ${limit} s)"
		fi
	else
		down_since=$SECONDS
		if [[ "$health" != 200 ]]; then
			fail "algo responde en ${host}:${port}, pero no es este servidor (GET /health → ${health})"
		fi
		ready="$(http_code /ready)"
		if [[ "$ready" == 200 ]]; then
			break
		fi
		why_no_model
	fi
	if ((SECONDS >= deadline)); then
		fail "el servidor no está listo tras ${timeout} s: ${reason}. Mira los registros: make logs"
	fi
	# Cada motivo se dice una vez (y se repite cada 30 s para que se vea que sigue vivo).
	if [[ "$reason" != "$said" ]] || ((SECONDS - said_at >= 30)); then
		echo "  esperando ($((SECONDS - start)) s): ${reason}"
		said="$reason"
		said_at=$SECONDS
	fi
	sleep 2
done

# El prompt va como JSON bien escapado (comillas, tildes) gracias a python3.
body="$(PROMPT="$prompt" python3 -c \
	'import json, os; print(json.dumps({"prompt": os.environ["PROMPT"], "max_new_tokens": 80}))')"
response="$(curl -sS -w '\n%{http_code}' -X POST "${base}/generate" \
	-H 'Content-Type: application/json' "${auth[@]}" -d "$body")"
code="${response##*$'\n'}"
json="${response%$'\n'*}"
if [[ "$code" != 200 ]]; then
	echo "error: POST /generate respondió ${code}: ${json}" >&2
	exit 1
fi
text="$(printf '%s' "$json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["text"])')"
if [[ -z "${text//[[:space:]]/}" ]]; then
	echo "error: /generate respondió 200 pero sin texto: ${json}" >&2
	exit 1
fi
echo "POST /generate → 200"
printf '%s%s\n' "$prompt" "$text"
