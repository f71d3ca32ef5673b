#!/usr/bin/env bash
# `make smoke`: espera a que el servidor tenga un modelo (/ready) y le pide un texto (/generate).
# Vale para el servidor en Docker (`make up`) y para el nativo. Ajustes: HOST, PORT, API_KEY,
# PROMPT y SMOKE_TIMEOUT (segundos de espera; el primer checkpoint llega tras la primera
# evaluación del entrenamiento).
set -euo pipefail

host="${HOST:-127.0.0.1}"
# 0.0.0.0 o :: significan «todas las interfaces»: para conectarse, la de esta máquina.
case "$host" in 0.0.0.0 | "" | "::" | "[::]") host=127.0.0.1 ;; esac
base="http://${host}:${PORT:-8000}"
timeout="${SMOKE_TIMEOUT:-600}"
prompt="${PROMPT:-Hola}"
auth=()
if [[ -n "${API_KEY:-}" ]]; then
	auth=(-H "Authorization: Bearer ${API_KEY}")
fi

echo "Esperando a que ${base}/ready responda 200 (máximo ${timeout} s)…"
deadline=$((SECONDS + timeout))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "${base}/ready" || true)" == 200 ]]; do
	if ((SECONDS >= deadline)); then
		echo "error: el servidor no está listo tras ${timeout} s. Mira los registros: make logs" >&2
		exit 1
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
