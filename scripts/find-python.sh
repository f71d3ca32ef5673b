#!/bin/sh
# Elige el Python con el que `make install` crea .venv (lo llama el Makefile).
#
#   sh scripts/find-python.sh            el primero que sirva: python3, python3.13, python3.12, python3.11
#   sh scripts/find-python.sh PYTHON     comprueba ese (make install PYTHON=python3.12 o una ruta)
#   sh scripts/find-python.sh --all      uno por versión, también los de pyenv (make test-pythons)
#
# "Que sirva": Python 3.11, 3.12 o 3.13 (requires-python de pyproject.toml; una prueba comprueba
# que coinciden) y capaz de crear entornos virtuales (en Debian/Ubuntu eso es el paquete
# python3.X-venv aparte). python3 va primero: es el Python de tu sistema, el que más se usa y
# mejor se mantiene; las versiones con nombre solo cuentan si python3 no vale.
# Imprime el intérprete en la salida estándar; los errores van, en español, a la de errores.

MIN_MINOR=11
MAX_MINOR=13
SUPPORTED="3.11, 3.12 o 3.13"

version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

in_range() {
    major=${1%%.*}
    minor=${1#*.}
    [ "$major" = 3 ] && [ "$minor" -ge "$MIN_MINOR" ] && [ "$minor" -le "$MAX_MINOR" ]
}

# Debian y Ubuntu separan ensurepip (y con él `python -m venv`) en python3.X-venv.
can_venv() {
    "$1" -c 'import ensurepip, venv' >/dev/null 2>&1
}

fail() {
    echo "error: $*" >&2
    exit 1
}

no_venv() {
    fail "$1 es Python $2 pero no puede crear entornos virtuales (falta el módulo ensurepip).
  En Debian/Ubuntu: sudo apt install python$2-venv   y después otra vez el mismo make."
}

if [ "${1:-}" = "--all" ]; then
    seen=" "
    pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for c in python3.11 python3.12 python3.13 python3 "$pyenv_root"/versions/3.*/bin/python3; do
        v=$(version_of "$c") || continue
        in_range "$v" || continue
        case "$seen" in *" $v "*) continue ;; esac
        can_venv "$c" || continue
        seen="$seen$v "
        "$c" -c 'import sys; print(sys.executable)'
    done
    exit 0
fi

if [ -n "${1:-}" ]; then
    command -v "$1" >/dev/null 2>&1 || fail "PYTHON=$1: no encuentro ese programa.
  Indica un Python $SUPPORTED que exista, p. ej.: make install PYTHON=python3.12"
    v=$(version_of "$1") || fail "PYTHON=$1 no funciona como Python (no responde a -c)."
    in_range "$v" || fail "PYTHON=$1 es Python $v; llm-desde-cero necesita Python $SUPPORTED."
    can_venv "$1" || no_venv "$1" "$v"
    echo "$1"
    exit 0
fi

tried=""
without_venv=""
for c in python3 python3.13 python3.12 python3.11; do
    command -v "$c" >/dev/null 2>&1 || continue
    v=$(version_of "$c") || continue
    tried="$tried $c ($v)"
    in_range "$v" || continue
    if can_venv "$c"; then
        echo "$c"
        exit 0
    fi
    [ -n "$without_venv" ] || without_venv="$c $v"
done

if [ -n "$without_venv" ]; then
    # shellcheck disable=SC2086  # dos palabras a propósito: programa y versión
    no_venv $without_venv
fi
fail "llm-desde-cero necesita Python $SUPPORTED y no encuentro ninguno${tried:+ (hay:$tried)}.
  Instálalo y vuelve a probar:
    Ubuntu 24.04 / Debian 13:  sudo apt install python3 python3-venv
    macOS (Homebrew):          brew install python@3.13
  o di cuál usar:              make install PYTHON=/ruta/a/python3.12"
