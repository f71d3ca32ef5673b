"""Imprime las dependencias fijadas de pyproject.toml en formato requirements.txt.

Las imágenes instalan exactamente las mismas versiones que ``make install``: pyproject.toml es
la única fuente. torch se separa del resto porque cada imagen lo baja de un índice distinto
(ruedas CPU o CUDA de PyTorch) y las demás dependencias vienen de PyPI.

Uso: python requirements.py pyproject.toml --only torch | --exclude torch
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib

NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def pinned(pyproject: str) -> list[str]:
    with open(pyproject, "rb") as fh:
        deps: list[str] = tomllib.load(fh)["project"]["dependencies"]
    loose = [d for d in deps if "==" not in d]
    if loose:
        sys.exit(f"error: dependencias sin versión fijada (==) en {pyproject}: {loose}")
    return deps


def name_of(requirement: str) -> str:
    match = NAME_RE.match(requirement)
    if match is None:
        sys.exit(f"error: no se entiende la dependencia {requirement!r}")
    return match.group(1).lower().replace("_", "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--only", action="append", default=[], metavar="PAQUETE")
    group.add_argument("--exclude", action="append", default=[], metavar="PAQUETE")
    args = parser.parse_args()
    deps = pinned(args.pyproject)
    if args.only:
        chosen = [d for d in deps if name_of(d) in args.only]
        if len(chosen) != len(args.only):
            sys.exit(f"error: {args.only} no están todos en las dependencias de {args.pyproject}")
    else:
        chosen = [d for d in deps if name_of(d) not in args.exclude]
    print("\n".join(chosen))


if __name__ == "__main__":
    main()
