"""Correr un módulo del proyecto como si fuera Windows, en Linux: ``python -c`` con esto delante.

Un falso a medida de la frontera que aquí no existe (no hay Windows en CI). Primero se importa
de verdad lo que el módulo necesita (torch, matplotlib, el propio proyecto): las bibliotecas
eligen su camino de Windows o de Linux al importarse, y aquí solo hay el de Linux. Después,
``sys.platform = "win32"`` y se quita lo que Windows no tiene: ``fcntl``, ``resource``,
``termios``, ``os.setsid``, ``os.sched_getaffinity``, ``os.sysconf``, las señales POSIX
(SIGUSR1, SIGHUP...) y los ficheros de ``/proc`` y ``/sys``. Si el código del proyecto los usa
al ejecutarse, falla como fallaría allí. Lo que no ve: lo que torch o Python hacen distinto en
Windows por dentro, las rutas con ``\\`` y el bloqueo de ficheros abiertos (para eso, las pruebas
de tests/test_windows.py y ``make check-windows``).
"""

from __future__ import annotations

import builtins
import importlib
import io
import os
import runpy
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

# Lo que se importa antes de fingir: las dependencias y los módulos que comprueban el sistema
# al importarse (subprocess, asyncio...).
PRELOAD = (
    "subprocess",
    "asyncio",
    "multiprocessing",
    "torch",
    "matplotlib.pyplot",
    "matplotlib.font_manager",
    "tqdm",
    "trainer.cli",
    "trainer.generate",
    "trainer.evaluate",
    "trainer.attention",
    "trainer.compare.__main__",
)
POSIX_ONLY_OS = (
    "setsid", "setpgid", "getpgid", "killpg", "fork", "sched_getaffinity", "sched_setaffinity",
    "sysconf", "getloadavg", "getuid", "geteuid", "nice",
)  # fmt: skip
POSIX_ONLY_SIGNALS = (
    "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGCHLD", "SIGPIPE", "SIGKILL",
    "SIGSTOP", "SIGCONT",
)  # fmt: skip
POSIX_ONLY_MODULES = ("fcntl", "resource", "termios", "pwd", "grp")
LINUX_ONLY_PATHS = ("/proc", "/sys")


def _no_linux_files(real_open: Callable[..., Any]) -> Callable[..., Any]:
    def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        name = os.fsdecode(file) if not isinstance(file, int) else ""
        if any(name == p or name.startswith(p + "/") for p in LINUX_ONLY_PATHS):
            raise FileNotFoundError(2, "No such file or directory (Windows)", name)
        return real_open(file, *args, **kwargs)

    return fake_open


def pretend_windows() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    sys.platform = "win32"
    for name in POSIX_ONLY_OS:
        if hasattr(os, name):
            delattr(os, name)
    for name in POSIX_ONLY_SIGNALS:
        if hasattr(signal, name):
            delattr(signal, name)
    for name in POSIX_ONLY_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # así, import da ImportError
    fake = _no_linux_files(builtins.open)
    builtins.open = fake
    io.open = fake  # pathlib abre con io.open


def run_module(module: str, argv: list[str]) -> None:
    """``python -m module argv...`` tras ``pretend_windows()``."""
    pretend_windows()
    sys.argv = [module, *argv]
    # El módulo ya está importado (PRELOAD): runpy lo ejecuta otra vez como __main__, y avisa.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
    runpy.run_module(module, run_name="__main__", alter_sys=True)
