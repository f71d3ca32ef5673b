"""Los bloqueos (requirements/*.txt, ``make lock``) dicen lo mismo que pyproject.toml.

pyproject.toml fija las dependencias directas; los bloqueos, todas (transitivas incluidas) con
sus hashes. Si alguien cambia una versión en pyproject.toml sin volver a bloquear, o añade una
dependencia, estas pruebas fallan y dicen qué falta.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Cada bloqueo y los extras que cubre (los mismos que LOCKS en el Makefile).
LOCKS = {"train": ["train"], "serve": ["serve"], "local": ["train", "serve"],
         "dev": ["train", "serve", "dev"]}  # fmt: skip
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def direct_pins(extras: list[str]) -> dict[str, str]:
    p = project()
    deps = list(p["dependencies"])
    for extra in extras:
        deps += p["optional-dependencies"][extra]
    pins = {}
    for dep in deps:
        match = PIN_RE.match(dep)
        assert match, f"{dep!r} no está fijada con == en pyproject.toml"
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def locked(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8")
    return {canonical(n): v for n, v in PIN_RE.findall(text)}


def mismatches(pins: dict[str, str], lock: dict[str, str]) -> list[str]:
    """Lo directo que falta en el bloqueo o tiene otra versión (torch va aparte: ver abajo)."""
    return [
        f"{name}=={version} (bloqueo: {lock.get(name, 'falta')})"
        for name, version in sorted(pins.items())
        if name != "torch" and lock.get(name) != version
    ]


@pytest.mark.parametrize("name", LOCKS)
def test_each_lock_pins_the_direct_dependencies_of_its_extras(name):
    assert mismatches(direct_pins(LOCKS[name]), locked(name)) == []


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_package_has_a_hash_and_torch_stays_out(name):
    text = (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    for entry in entries:
        if entry.startswith("#"):
            continue
        assert "--hash=sha256:" in entry, f"sin hash en requirements/{name}.txt: {entry[:60]}"
    # torch sale de un índice u otro según la máquina (CPU o CUDA, hashes distintos):
    # scripts/install_torch.py lo instala antes, con la versión de pyproject.toml.
    assert "torch" not in locked(name)
    assert not any(n.startswith("nvidia-") for n in locked(name))


def test_the_locks_agree_with_each_other():
    """Un paquete tiene la misma versión en todos los bloqueos (make install junta varios)."""
    seen: dict[str, tuple[str, str]] = {}
    for name in LOCKS:
        for package, version in locked(name).items():
            first = seen.setdefault(package, (name, version))
            assert first[1] == version, f"{package}: {first} frente a {name} {version}"


def test_the_images_do_not_carry_the_other_side():
    """La imagen del servidor no lleva matplotlib; la del entrenador, ni Flask ni gunicorn."""
    assert {"matplotlib", "tqdm"}.isdisjoint(locked("serve"))
    assert {"flask", "gunicorn", "pydantic", "prometheus-client"}.isdisjoint(locked("train"))


def test_mismatches_names_a_pin_bumped_without_relocking():
    assert mismatches({"flask": "9.9.9"}, {"flask": "3.1.3"}) == ["flask==9.9.9 (bloqueo: 3.1.3)"]
    assert mismatches({"flask": "3.1.3"}, {}) == ["flask==3.1.3 (bloqueo: falta)"]
