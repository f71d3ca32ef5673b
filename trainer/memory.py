"""Memoria del entrenamiento en CPU: que glibc reutilice los bloques grandes en vez de devolverlos.

Cada paso crea y libera las mismas activaciones grandes (decenas de MB). glibc sirve esos bloques
con mmap y al liberarlos los devuelve al sistema, así que el paso siguiente los vuelve a pedir y
el núcleo tiene que mapear y poner a cero cada página de 4 KB otra vez. En una máquina virtual
eso es caro: medido en docs/BENCHMARKS.md, el paso bf16 del GPT 6×384 va un ~30 % más lento.
Con ``mallopt`` le pedimos que sirva todo desde su montículo y no lo devuelva: después del primer
paso la memoria se reutiliza. El precio: el proceso no devuelve memoria hasta que termina.

Cuánta memoria pedirá un modelo (y el rechazo de lo que no cabe, antes de reservar nada) está en
``shared/common/memory_estimate.py``: el servidor también lo usa al cargar checkpoints.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # constantes de <malloc.h>
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Solo en Linux con glibc; en otro sistema no hace nada. Devuelve si se aplicó."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Sin bloques mmap y sin devolver el final del montículo (umbral de recorte enorme).
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
