"""Traducción de errores a mensajes en español y códigos de salida, en un solo sitio."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from shared.errors import CheckpointError, LLMError

EXIT_OK = 0
EXIT_FAILURE = 1  # fallo inesperado
EXIT_USAGE = 2  # datos, configuración, dispositivo o texto inválidos (como argparse)
EXIT_CHECKPOINT = 3  # checkpoint ilegible, corrupto o ajeno


class OutputDirError(LLMError):
    """No se puede escribir en el directorio de checkpoints."""


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, CheckpointError):
        return EXIT_CHECKPOINT
    if isinstance(exc, LLMError):
        return EXIT_USAGE
    return EXIT_FAILURE


def run_cli(fn: Callable[[], int]) -> int:
    """Ejecuta ``fn`` y convierte los errores conocidos en un mensaje claro, sin traza."""
    try:
        return fn()
    except LLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("interrumpido por el usuario.", file=sys.stderr)
        return 130


def warn_skipped_checkpoint(path: Path, exc: CheckpointError) -> None:
    """``--ckpt DIR`` / ``--resume``: el checkpoint más reciente no vale y se prueba el anterior."""
    print(f"aviso: se salta un checkpoint: {exc} Se prueba con el anterior.", file=sys.stderr)
