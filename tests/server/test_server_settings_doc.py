"""Las variables del servidor se declaran una vez (server/settings.py, ``VARIABLES``) y todo lo
demás sale de ahí o se comprueba contra ahí: ``Settings``, ``python -m server --help``, la tabla
de docs/servidor.md y la sección del servidor de .env.example (compose.yaml: en
test_server_settings_env.py). Añadir una variable sin regenerar (``make docs-tables``)
hace fallar estas pruebas.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from server import settings_doc
from server.settings import VARIABLES, Settings, Var, default_workers, flag, path, text
from shared.common.errors import ConfigError
from tests.helpers.cli import ROOT
from tests.helpers.server import python_env


def test_settings_has_one_field_per_variable() -> None:
    fields = [f.name for f in dataclasses.fields(Settings)]
    declared = [var.field for var in VARIABLES if var.field is not None]
    assert sorted(fields) == sorted(declared)
    assert len({var.name for var in VARIABLES}) == len(VARIABLES)


def test_unset_or_empty_is_the_declared_default() -> None:
    blank = {var.name: "  " for var in VARIABLES}
    for env in ({}, blank):
        s = Settings.from_env(env)
        assert s == Settings()
        for var in VARIABLES:
            if var.field is not None and var.literal:
                assert getattr(s, var.field) == var.default, var.name


CHECKED = [v for v in VARIABLES if v.field and v.parse not in (text, path)]


@pytest.mark.parametrize("var", CHECKED, ids=lambda v: v.name)
def test_every_checked_variable_rejects_garbage_in_spanish(var: Var) -> None:
    # Cada variable se lee de verdad, con su nombre en el mensaje (no un error de Python).
    with pytest.raises(ConfigError, match=rf"^{var.name} debe "):
        Settings.from_env({var.name: "2" if var.parse is flag else "¿?"})


def test_doc_table_is_up_to_date() -> None:
    expected = settings_doc.generated_files()[settings_doc.DOC]
    current = settings_doc.DOC.read_text(encoding="utf-8")
    assert current == expected, "docs/servidor.md está desfasada: ejecuta make docs-tables"
    for var in VARIABLES:
        assert f"| `{var.name}` |" in current


def test_env_example_is_up_to_date() -> None:
    path = settings_doc.ENV_EXAMPLE
    current = path.read_text(encoding="utf-8")
    assert current == settings_doc.generated_files()[path], (
        ".env.example está desfasado: ejecuta make docs-tables"
    )
    start, end = settings_doc.ENV_MARKERS
    block = current.split(start, 1)[1].split(end, 1)[0]
    outside = current.replace(block, "")
    for var in VARIABLES:
        line = rf"^# {var.name}={re.escape(var.default_text) if var.literal else ''}$"
        # Las del servidor, en su sección con su valor por defecto; las que comparte con el
        # entrenador, en la sección de entrenamiento (que no se genera aquí).
        if var.trainer:
            assert re.search(rf"^# {var.name}=", outside, re.MULTILINE), var.name
        else:
            assert re.search(line, block, re.MULTILINE), var.name


def test_help_lists_every_variable_with_its_default() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("uso: python -m server"), proc.stdout
    for var in VARIABLES:
        assert f"  {var.name} (por defecto: {var.default_text or '(vacía)'})" in proc.stdout


def test_documented_worker_cap_is_the_code_cap() -> None:
    # La ayuda de WEB_CONCURRENCY dice el tope del valor por defecto: el que aplica el código.
    cap = default_workers(cores=10_000, torch_threads=1)
    assert default_workers(cores=1, torch_threads=4) == 1
    [var] = [v for v in VARIABLES if v.name == "WEB_CONCURRENCY"]
    assert var.default_text.endswith(f"entre 1 y {cap}"), var.default_text
