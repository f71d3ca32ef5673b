"""bench/ es una herramienta aparte: nada del proyecto la importa y ninguna imagen la lleva."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_in_the_project_imports_bench() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("shared", "trainer", "server")
        for path in (ROOT / package).rglob("*.py")
        if any(name == "bench" or name.startswith("bench.") for name in imported_modules(path))
    ]
    assert not offenders, offenders


def test_no_image_ships_bench() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "bench" in ignored  # ni siquiera entra en el contexto de construcción
    for dockerfile in (ROOT / "docker").glob("*Dockerfile"):
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            if re.match(r"\s*(COPY|ADD)\s", line):
                assert "bench" not in line and not re.search(r"\s\.\s", line), line
