#!/usr/bin/env bash
# Dependencias del sistema para las pruebas de navegador (make test-browser): Chromium de Debian
# y su driver. Idempotente: si ya están, no hace nada (ni toca la red).
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ ${#missing[@]} -eq 0 ]; then
    echo "Chromium ya está instalado: $(chromium --version 2>/dev/null || echo chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: hace falta ser root (o tener sudo) para instalar ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
echo "Instalando ${missing[*]} con apt-get…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
chromium --version
