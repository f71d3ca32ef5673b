"""Lee las dependencias fijadas de pyproject.toml para la instalación y para el bloqueo.

pyproject.toml es la única fuente de las versiones directas; requirements/*.txt (``make lock``,
generados con pip-compile de pip-tools, con hashes) fijan además todas las transitivas.
torch va siempre aparte: cada sitio lo baja de su índice (ruedas CPU o CUDA de PyTorch, cuyos
hashes no son los de PyPI), sin dependencias; las suyas (filelock, sympy...) sí van en el bloqueo.

Usos:
  python requirements.py pyproject.toml --only torch      la línea de torch (torch==X)
  python requirements.py pyproject.toml --lock-input train,serve
      la entrada de pip-compile para esos extras: lo fijado (sin torch) más lo que pide torch
  python requirements.py requirements/serve.txt --pick python-dotenv
      las líneas de ese paquete en un bloqueo (versión y hashes), para instalar solo eso
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from importlib import metadata

NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def name_of(requirement: str) -> str:
    match = NAME_RE.match(requirement)
    if match is None:
        sys.exit(f"error: no se entiende la dependencia {requirement!r}")
    return match.group(1).lower().replace("_", "-")


def pinned(pyproject: str, extras: list[str]) -> list[str]:
    """Las dependencias directas de la base y de esos extras, todas con versión fijada (==)."""
    with open(pyproject, "rb") as fh:
        project = tomllib.load(fh)["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        sys.exit(f"error: extras desconocidos {unknown}; hay: {sorted(optional)}")
    deps: list[str] = list(project["dependencies"])
    for extra in extras:
        deps += optional[extra]
    loose = [d for d in deps if "==" not in d]
    if loose:
        sys.exit(f"error: dependencias sin versión fijada (==) en {pyproject}: {loose}")
    return deps


def torch_requirements() -> list[str]:
    """Lo que pide el torch instalado (sin extras opcionales): entra en el bloqueo con hashes."""
    reqs = metadata.requires("torch") or []
    return [r for r in reqs if "extra ==" not in r]


def pick(lock: str, names: list[str]) -> list[str]:
    """Los bloques ``paquete==X \\ --hash=...`` de esos paquetes en un fichero de bloqueo."""
    blocks: list[list[str]] = []
    keep = False
    with open(lock, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line[:1].isalnum():  # un paquete nuevo; lo demás son sus hashes y comentarios
                keep = name_of(line) in names
                if keep:
                    blocks.append([line])
            elif keep and line.lstrip().startswith("--hash"):
                blocks[-1].append(line)
    if len(blocks) != len(names):
        sys.exit(f"error: {names} no están todos en {lock}")
    return ["\n".join(block) for block in blocks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--only", action="append", default=[], metavar="PAQUETE")
    group.add_argument("--lock-input", metavar="EXTRAS", help="extras separados por comas")
    group.add_argument("--pick", action="append", default=[], metavar="PAQUETE")
    args = parser.parse_args()
    if args.pick:
        print("\n".join(pick(args.pyproject, args.pick)))
        return
    if args.only:
        deps = pinned(args.pyproject, [])
        chosen = [d for d in deps if name_of(d) in args.only]
        if len(chosen) != len(args.only):
            sys.exit(f"error: {args.only} no están todos en las dependencias de {args.pyproject}")
        print("\n".join(chosen))
        return
    extras = [e for e in args.lock_input.split(",") if e]
    deps = [d for d in pinned(args.pyproject, extras) if name_of(d) != "torch"]
    print("\n".join(deps + torch_requirements()))


if __name__ == "__main__":
    main()
