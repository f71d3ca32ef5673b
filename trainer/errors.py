"""Traducción de errores a mensajes en español y códigos de salida, en un solo sitio."""

from __future__ import annotations

import errno
import io
import sys
from collections.abc import Callable
from pathlib import Path

from shared.common.errors import CheckpointError, LLMError
from shared.common.spanish_numbers import fmt_int

EXIT_OK = 0
EXIT_FAILURE = 1  # fallo inesperado
EXIT_USAGE = 2  # datos, configuración, dispositivo o texto inválidos (como argparse)
EXIT_CHECKPOINT = 3  # checkpoint ilegible, corrupto o ajeno
EXIT_SAVE = 4  # no se pudo guardar (disco lleno, cuota, permisos): lo ya guardado sigue intacto


class OutputDirError(LLMError):
    """No se puede escribir en el directorio de checkpoints."""


class SaveError(LLMError):
    """No se pudo escribir un checkpoint o las métricas a mitad del entrenamiento."""


# Los errores de escritura más comunes, en español (strerror los da en el idioma del sistema).
_OS_ERRORS = {
    errno.ENOSPC: "no queda espacio en el disco",
    errno.EFBIG: "el fichero supera el tamaño máximo permitido",
    errno.EDQUOT: "se ha superado la cuota de disco",
    errno.EACCES: "permiso denegado",
    errno.EPERM: "operación no permitida",
    errno.EROFS: "el sistema de ficheros es de solo lectura",
    errno.EIO: "error de entrada/salida del disco",
}


def describe_os_error(exc: OSError) -> str:
    return _OS_ERRORS.get(exc.errno or 0) or exc.strerror or str(exc)


def find_os_error(exc: BaseException) -> OSError | None:
    """El OSError detrás de un fallo al guardar. torch.save lo envuelve en un RuntimeError
    («enforce fail at inline_container.cc») cuando el disco se llena a mitad de escritura."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def save_error(
    step: int, exc: OSError, ckpt_path: Path, saved_step: int | None, resumed: Path | None
) -> SaveError:
    """Disco lleno, cuota, permisos...: qué pasó y qué sigue a salvo (la escritura es atómica:
    el checkpoint anterior no se toca hasta que el nuevo está entero)."""
    if saved_step is not None:
        kept = (
            f"No se ha perdido nada de lo guardado: '{ckpt_path}' sigue intacto en el "
            f"paso {fmt_int(saved_step)}. Libera espacio y continúa con: "
            f"python -m trainer --resume {ckpt_path}"
        )
    elif resumed is not None:
        kept = (
            f"No se ha perdido nada: el checkpoint reanudado '{resumed}' sigue "
            "intacto. Libera espacio y vuelve a reanudarlo."
        )
    else:
        kept = (
            "No se ha tocado ningún fichero anterior (este entrenamiento aún no había "
            "guardado nada). Libera espacio y vuelve a empezar."
        )
    return SaveError(
        f"no se pudo guardar el checkpoint del paso {fmt_int(step)} en '{ckpt_path}': "
        f"{describe_os_error(exc)}. {kept}"
    )


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, SaveError):
        return EXIT_SAVE
    if isinstance(exc, CheckpointError):
        return EXIT_CHECKPOINT
    if isinstance(exc, LLMError):
        return EXIT_USAGE
    return EXIT_FAILURE


def tolerant_output() -> None:
    """En Windows, una salida redirigida (``> log.txt``, ``| Tee-Object``) usa la página de
    códigos del sistema (cp1252…), que no tiene «→» ni «≈»: un print así pararía el
    entrenamiento con UnicodeEncodeError. Lo que no quepa se escribe como «?». En la consola de
    Windows Python ya escribe UTF-8, y en Linux y macOS no cambia nada."""
    if sys.platform != "win32":
        return
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")


def run_cli(fn: Callable[[], int]) -> int:
    """Ejecuta ``fn`` y convierte los errores conocidos en un mensaje claro, sin traza."""
    tolerant_output()
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
