"""docs/windows.md, comprobado donde se puede sin Windows: las órdenes son las de Linux.

Cada ``python -m trainer…`` de sus bloques de PowerShell se pasa al analizador de argumentos
real de su programa (una opción mal escrita o retirada falla aquí); la instalación nombra el
torch fijado en pyproject.toml y extras que existen. Que corran de verdad (con Windows fingido)
lo prueba tests/test_windows.py.
"""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib

import pytest

from tests.helpers.cli import ROOT

DOC = ROOT / "docs" / "windows.md"
README = ROOT / "README.md"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PARSERS = {
    "trainer": "trainer.cli",
    "trainer.generate": "trainer.generate",
    "trainer.evaluate": "trainer.evaluate",
    "trainer.compare": "trainer.compare.__main__",
    "trainer.attention": "trainer.attention",
}


def powershell_lines() -> list[str]:
    """Las órdenes de los bloques de PowerShell de docs/windows.md y del README (allí, varias
    por línea separadas con «; »)."""
    lines = []
    for doc in (DOC, README):
        blocks = re.findall(r"```powershell\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        for block in blocks:
            lines += [part.strip() for line in block.splitlines() for part in line.split("; ")]
    return [line for line in lines if line]


def split_powershell(line: str) -> list[str]:
    """Como PowerShell parte estas líneas: por espacios, con comillas dobles sin nada especial
    dentro, y la barra invertida es una letra más (las rutas de Windows)."""
    words = shlex.split(line, posix=False)
    return [w[1:-1] if len(w) > 1 and w[0] == w[-1] == '"' else w for w in words]


def trainer_commands() -> list[list[str]]:
    lines = powershell_lines()
    return [split_powershell(line) for line in lines if line.startswith("python -m trainer")]


def test_the_five_trainer_commands_are_there() -> None:
    assert {cmd[2] for cmd in trainer_commands()} == set(PARSERS)


@pytest.mark.parametrize("cmd", trainer_commands(), ids=lambda cmd: " ".join(cmd[2:4]))
def test_each_trainer_command_is_accepted(cmd: list[str]) -> None:
    parser = importlib.import_module(PARSERS[cmd[2]]).build_parser()
    parser.parse_args(cmd[3:])  # argparse sale con 2 ante una opción que no conoce


def test_the_install_uses_the_pinned_torch_and_real_extras() -> None:
    lines = powershell_lines()
    torch_pin = next(d for d in PROJECT["dependencies"] if d.startswith("torch=="))
    assert f"python -m pip install {torch_pin}" in lines
    extras = set(PROJECT["optional-dependencies"])
    installs = [line for line in lines if line.startswith('python -m pip install -e ".[')]
    assert installs
    for line in installs:
        wanted = line.split("[", 1)[1].split("]", 1)[0].split(",")
        assert set(wanted) <= extras, line
    assert ".venv\\Scripts\\Activate.ps1" in lines
