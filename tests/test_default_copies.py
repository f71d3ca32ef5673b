"""Cada valor por defecto de entrenar y generar se escribe una vez: en el programa.

Las fuentes son ``TrainSettings`` (trainer/settings.py, para ``python -m trainer``) y el argparse
de ``python -m trainer.generate``. El Makefile no fija valores (pasa un flag solo si su variable
tiene valor) y compose.yaml deja vacías las variables (``${MAX_STEPS:-}``). Estas pruebas leen
como texto el Makefile, compose.yaml, .env.example, docs/*.md y README.md y fallan si un valor
por defecto vuelve a aparecer copiado. Regla precisa (por ajuste con variable o flag y valor
por defecto fijo ``D``; los de un solo carácter, como ``0`` o ``4``, se excluyen porque salen en
cualquier ejemplo):

- Makefile: ninguna línea asigna un valor a la variable (``X := $(or $(X),D)``, ``X ?= D``,
  ``X = D``), salvo ``MODEL``, que make necesita para la carpeta de los checkpoints y
  tests/test_settings_sources.py compara con ``TrainSettings``.
- compose.yaml: ninguna ``${X:-valor}`` con valor, salvo ``${MODEL:-gpt}`` (comparada allí).
- .env.example: ``# X=D`` solo una vez (la documentación de cada variable, comparada en
  tests/test_settings_sources.py y aquí la de generación); fuera de los bloques generados.
- docs/*.md y README.md, fuera de los bloques generados (``<!-- generado ... -->`` hasta
  ``<!-- fin de lo generado -->``): ningún ``X=D`` (``make generate TEMPERATURE=1.0``) y
  ninguna línea que diga «por defecto» o nombre ``make train``/``make generate`` junto a ``D`` y
  la palabra del ajuste (``2000 pasos``, ``temperatura 1.0``). Un ``--flag D`` en una orden de
  ejemplo no cuenta: es una orden completa, no la afirmación de un valor por defecto.

Las opciones de medida del banco (bench/generation.py: temperatura 0,8, top-k 50) son suyas y
no cuentan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.helpers.cli import ROOT
from trainer.generate import build_parser
from trainer.settings import settings_fields


@dataclass(frozen=True)
class Default:
    env: str  # variable de make, .env y Docker
    flag: str
    value: str  # como se escribe
    word: str | None = None  # cómo lo nombra la prosa en español


# La palabra con la que la prosa nombra cada ajuste (para la regla de «por defecto»).
WORDS = {
    "MAX_STEPS": "pasos",
    "BATCH_SIZE": "secuencias",
    "BLOCK_SIZE": "contexto",
    "N_EMBD": "embeddings",
    "SEED": "semilla",
    "GEN_TOKENS": "caracteres",
    "TEMPERATURE": "temperatura",
    "TOP_K": "top-k",
}
# Variable de make/.env de cada opción de python -m trainer.generate.
GENERATE_ENV = {
    "prompt": "PROMPT",
    "max_new_tokens": "GEN_TOKENS",
    "temperature": "TEMPERATURE",
    "top_k": "TOP_K",
    "seed": "GEN_SEED",
}


def generate_defaults() -> dict[str, object]:
    parser = build_parser()
    return {dest: parser.get_default(dest) for dest in GENERATE_ENV}


def all_defaults() -> list[Default]:
    found = [
        Default(opt.env, opt.flag(f.name), str(f.default), WORDS.get(opt.env))
        for f, opt in settings_fields()
        if opt.env and opt.shown_default is None and f.default not in (None, False)
    ]
    for dest, value in generate_defaults().items():
        env = GENERATE_ENV[dest]
        if value not in (None, ""):
            found.append(Default(env, "--" + dest.replace("_", "-"), str(value), WORDS.get(env)))
    return [d for d in found if len(d.value) > 1]


DEFAULTS = all_defaults()
DOC_FILES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def read(path) -> str:
    return path.read_text(encoding="utf-8")


def without_generated(text: str) -> str:
    """Quita los bloques que escribe ``make docs-tables`` (salen del código: no son copias)."""
    text = re.sub(r"<!-- generado.*?<!-- fin de lo generado -->", "", text, flags=re.S)
    return re.sub(r"# >>> generado.*?# <<< fin de lo generado", "", text, flags=re.S)


def value_re(value: str) -> str:
    """El valor como palabra suelta; un decimal también con coma (1,0)."""
    alternatives = {re.escape(value), re.escape(value.replace(".", ","))}
    return rf"(?<![\w.,/-])(?:{'|'.join(alternatives)})(?![\w/]|[.,]\d)"


def copies(text: str, d: Default) -> list[str]:
    """Las líneas de un documento que repiten el valor por defecto ``d`` (reglas arriba)."""
    value = value_re(d.value)
    explicit = re.compile(rf"\b{d.env}=\"?{value}")
    found = []
    for line in text.splitlines():
        if explicit.search(line):
            found.append(line)
        elif (
            d.word
            and re.search(r"por defecto|make train|make generate", line)
            and re.search(value, line)
            and re.search(rf"(?<![\w-]){re.escape(d.word)}(?![\w-])", line, re.I)
        ):
            found.append(line)
    return found


# MODEL: make la necesita (la carpeta); tests/test_settings_sources.py la compara.
NOT_MODEL = [d for d in DEFAULTS if d.env != "MODEL"]


@pytest.mark.parametrize("d", NOT_MODEL, ids=[d.env for d in NOT_MODEL])
def test_makefile_does_not_restate_the_default(d):
    assignment = rf"^{d.env}\s*(?::=|\?=|=|::=)\s*(\S.*)$"
    assignments = re.findall(assignment, read(ROOT / "Makefile"), re.M)
    assert not assignments, f"el Makefile fija {d.env}={assignments}: que rija el del programa"
    assert f"$(or $({d.env})," not in read(ROOT / "Makefile")


def test_compose_leaves_settings_empty():
    compose = read(ROOT / "compose.yaml")
    names = {d.env for d in DEFAULTS}
    with_value = {
        (name, value)
        for name, value in re.findall(r"\$\{([A-Z_]+):-([^}]+)\}", compose)
        if name in names
    }
    model = next(d.value for d in DEFAULTS if d.env == "MODEL")
    assert with_value <= {("MODEL", model)}, f"compose.yaml repite por defecto: {with_value}"


@pytest.mark.parametrize("d", DEFAULTS, ids=[d.env for d in DEFAULTS])
def test_env_example_documents_each_default_once(d):
    text = without_generated(read(ROOT / ".env.example"))
    lines = [line for line in text.splitlines() if re.match(rf"^#?\s*{d.env}=", line)]
    assert len(lines) <= 1, f".env.example escribe {d.env} más de una vez: {lines}"


def test_env_example_generation_section_is_the_cli_defaults():
    section = read(ROOT / ".env.example").split("# --- Generación")[1].split("# --- ")[0]
    shown = dict(re.findall(r"^# ([A-Z_]+)=(.*)$", section, re.M))
    for dest, value in generate_defaults().items():
        expected = "" if value is None else str(value)
        assert shown.get(GENERATE_ENV[dest]) == expected, f".env.example: {GENERATE_ENV[dest]}"


def test_make_generate_passes_each_variable_only_when_set():
    makefile = read(ROOT / "Makefile")
    flags = makefile.split("GENERATE_FLAGS = ")[1].split("\n\n")[0].split("\nCOMPARE_FLAGS")[0]
    passed = dict(re.findall(r"\$\(call opt,(--[a-z-]+),([A-Z_]+)\)", flags))
    expected = {"--" + dest.replace("_", "-"): env for dest, env in GENERATE_ENV.items()}
    assert passed == expected


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_docs_do_not_restate_defaults(path):
    text = without_generated(read(path))
    found = {d.env: copies(text, d) for d in DEFAULTS}
    found = {env: lines for env, lines in found.items() if lines}
    assert not found, f"{path.name} repite valores por defecto (enlaza a su fuente): {found}"


def test_rule_catches_the_copies_it_describes():
    by_env = {d.env: d for d in DEFAULTS}
    assert copies("make generate TEMPERATURE=1.0", by_env["TEMPERATURE"])
    assert copies("la temperatura por defecto es 1,0", by_env["TEMPERATURE"])
    assert copies("`make train` (2000 pasos)", by_env["MAX_STEPS"])
    assert copies("2000 pasos por defecto", by_env["MAX_STEPS"])
    assert not copies("--temperature 0.8 --top-k 50", by_env["TEMPERATURE"])
    assert not copies("--max-steps 200", by_env["MAX_STEPS"])
    assert not copies("20000 pasos por defecto", by_env["MAX_STEPS"])
