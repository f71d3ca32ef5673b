"""Los ajustes del entrenador se declaran una vez (trainer/settings.py) y todo lo demás lo sigue.

El Makefile, compose.yaml, docker/trainer-entrypoint.sh, .env.example y la tabla de
docs/entrenar.md nombran los ajustes que una persona lee o escribe; estas pruebas los leen como
texto y los comparan con ``TrainSettings``: un ajuste nuevo, o un valor por defecto cambiado solo
en un sitio, las hace fallar. Los valores por defecto solo se escriben en .env.example (como
documentación, comparada aquí) y, el de MODEL, en el Makefile; tests/test_default_copies.py
falla si aparece otra copia.
"""

from __future__ import annotations

import re
from dataclasses import Field
from typing import Any

import pytest

from bench.training import SIZES
from tests.helpers.cli import ROOT, run_module
from trainer.cli import build_parser
from trainer.options_doc import markdown_table, render
from trainer.settings import Option, TrainSettings, default_checkpoint_dir, settings_fields

MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
COMPOSE = (ROOT / "compose.yaml").read_text(encoding="utf-8")
ENTRYPOINT = (ROOT / "docker" / "trainer-entrypoint.sh").read_text(encoding="utf-8")
DOC = (ROOT / "docs" / "entrenar.md").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")

# Con variable (make, .env, Docker) y con un valor por defecto fijo: el Makefile lo escribe.
WITH_ENV = [(f, opt) for f, opt in settings_fields() if opt.env]
STATIC = [(f, opt) for f, opt in WITH_ENV if opt.shown_default is None]
# Variables del entrenador en compose.yaml que no son ajustes de TrainSettings.
COMPOSE_EXTRAS = {"TRAIN_ARGS", "MEMORY_LIMIT", "LLM_IN_DOCKER", "PLAYGROUND_URL"}


def ids(pairs: list[tuple[Field[Any], Option]]) -> list[str]:
    return [f.name for f, _ in pairs]


def makefile_defaults() -> dict[str, str]:
    """``X := $(or $(X),valor)``: los valores por defecto que escribe el Makefile."""
    pattern = re.compile(r"^([A-Z_]+) := \$\(or \$\(\1\),(.*)\)$", re.M)
    return {name: value for name, value in pattern.findall(MAKEFILE)}


def makefile_train_flags() -> dict[str, str]:
    """``--flag $(VAR)`` en las recetas de entrenamiento (train, train-bigram, TRAIN_COMMON)."""
    recipes = MAKEFILE.split("\ntrain: $(RUNTIME_STAMP)")[1].split("\ngenerate:")[0]
    common = MAKEFILE.split("TRAIN_COMMON = ")[1].split("\nGPT_FLAGS")[0]
    gpt = MAKEFILE.split("GPT_FLAGS = ")[1].split("\n\n")[0].split("\nGENERATE_FLAGS")[0]
    # --model $(MODEL) siempre; los demás con $(call opt,--flag,VAR): solo si VAR tiene valor.
    pairs = re.findall(r'(--[a-z-]+) "?\$\(([A-Z_]+)\)"?', recipes + common)
    pairs += re.findall(r"\$\(call opt,(--[a-z-]+),([A-Z_]+)\)", recipes + common + gpt)
    return {var: flag for flag, var in pairs}


def compose_trainer_environment() -> dict[str, str]:
    service = COMPOSE.split("\n  trainer:\n")[1].split("\n  server:\n")[0]
    block = service.split("\n    environment:\n")[1]
    env: dict[str, str] = {}
    for line in block.splitlines():
        if line.strip().startswith("#"):
            continue
        match = re.match(r"^      ([A-Z_]+): (.*)$", line)
        if match is None:
            break
        env[match[1]] = match[2]
    return env


def test_makefile_fixes_only_the_model_default():
    # Los demás los pone el programa (tests/test_default_copies.py); MODEL lo necesita make
    # para la carpeta de los checkpoints, y es el de TrainSettings.
    assert makefile_defaults() == {"MODEL": TrainSettings.model}


def test_makefile_checkpoint_dir_is_the_settings_rule():
    line = f"CHECKPOINT_DIR = {default_checkpoint_dir('$(MODEL)')}"
    assert re.search(rf"^{re.escape(line)}$", MAKEFILE, re.M), line


@pytest.mark.parametrize("f,opt", STATIC, ids=ids(STATIC))
def test_make_train_passes_the_variable_to_its_flag(f, opt):
    flags = makefile_train_flags()
    assert flags.get(opt.env) == opt.flag(f.name), f"make train debe pasar {opt.flag(f.name)}"


def test_make_train_only_passes_declared_settings():
    declared = {opt.env: opt.flag(f.name) for f, opt in WITH_ENV}
    for var, flag in makefile_train_flags().items():
        assert declared.get(var) == flag, f"{flag} $({var}) no está declarado en TrainSettings"


def test_make_help_and_docker_train_env_list_every_variable():
    help_recipe = MAKEFILE.split("\nhelp:")[1].split("\n\n")[0]
    docker_env = MAKEFILE.split("DOCKER_TRAIN_ENV = ")[1].split("\n#")[0]
    for _, opt in STATIC:
        assert re.search(rf"\b{opt.env}\b", help_recipe), f"`make help` no nombra {opt.env}"
        assert f'{opt.env}="$({opt.env})"' in docker_env, f"DOCKER_TRAIN_ENV no pasa {opt.env}"


def test_compose_trainer_environment_is_the_settings_list():
    env = compose_trainer_environment()
    model_default = TrainSettings.model
    for f, opt in WITH_ENV:
        if f.name == "checkpoint_dir":  # en el contenedor, siempre en el volumen
            assert env.get(opt.env) == f"/checkpoints/${{MODEL:-{model_default}}}"
        else:  # vacío = el valor por defecto del entrenador: no se repite aquí
            assert env.get(opt.env) == f"${{{opt.env}:-}}", f"compose.yaml: {opt.env}"
    unknown = set(env) - {opt.env for _, opt in WITH_ENV} - COMPOSE_EXTRAS
    assert not unknown, f"variables del entrenador sin declarar en TrainSettings: {unknown}"
    # Donde compose.yaml necesita el modelo por defecto (la carpeta del volumen), es el mismo.
    assert set(re.findall(r"\$\{MODEL:-([^}]+)\}", COMPOSE)) == {model_default}


def test_env_example_shows_every_variable_with_its_default():
    # Su sección de entrenamiento: `# NOMBRE=valor` comentado, con el valor por defecto.
    section = ENV_EXAMPLE.split("# --- Entrenamiento")[1].split("# --- ")[0]
    shown = dict(re.findall(r"^# ([A-Z_]+)=(.*)$", section, re.M))
    for f, opt in WITH_ENV:
        assert opt.env in shown, f".env.example no explica {opt.env}"
        if f.name == "checkpoint_dir":
            assert shown[opt.env] == default_checkpoint_dir(TrainSettings.model)
        elif opt.shown_default is None:
            assert shown[opt.env] == str(f.default), f".env.example: {opt.env}"


def test_docker_entrypoint_maps_every_variable_to_its_flag():
    mapped = set(re.findall(r'^add_flag (--[a-z-]+) "\$\{([A-Z_]+):-\}"$', ENTRYPOINT, re.M))
    assert mapped == {(opt.flag(f.name), opt.env) for f, opt in WITH_ENV}


def test_docs_table_is_up_to_date():
    assert render(DOC) == DOC, "docs/entrenar.md no está al día: make docs-tables"
    assert markdown_table() in DOC


def test_docs_check_command_fails_on_a_stale_table(tmp_path, monkeypatch):
    # El mismo --check que usa una persona (o CI): con la tabla vieja, código 1.
    import trainer.options_doc as options_doc

    stale = tmp_path / "entrenar.md"
    stale.write_text(DOC.replace("| `2000` |", "| `3000` |"), encoding="utf-8")
    monkeypatch.setattr(options_doc, "DOC", stale)
    assert options_doc.main(["--check"]) == 1
    assert options_doc.main([]) == 0
    assert stale.read_text(encoding="utf-8") == DOC
    assert run_module("trainer.options_doc", "--check").returncode == 0


def test_help_shows_every_setting_with_its_declared_default():
    help_text = " ".join(build_parser().format_help().split())
    for f, opt in settings_fields():
        assert opt.flag(f.name) in help_text
        if opt.shown_default is None and f.default not in (None, False):
            assert f"{' '.join(opt.help.split())} (por defecto: {f.default})" in help_text


def test_bench_seed_size_is_the_training_default():
    fields_ = {f.name: f.default for f, _ in settings_fields()}
    assert SIZES["semilla"] == {name: fields_[name] for name in SIZES["semilla"]}
