"""El registro de métricas del entrenamiento: JSON Lines, una línea por evaluación, junto al
checkpoint (``<run>.metrics.jsonl``). Es la fuente de las curvas y de ``trainer.compare``.

Tras cada línea se redibuja la curva ``<run>.png`` (ver ``trainer/plot.py``). Dibujar nunca
para el entrenamiento: un fallo deja un aviso y, sin matplotlib, simplemente no hay figura.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer.errors import SaveError, describe_os_error

# Dibujar no debe llevarse más de ~1/10 del tiempo: si las evaluaciones llegan más deprisa que
# eso (modelos diminutos), se salta alguna figura intermedia. La del final se dibuja siempre.
DRAW_SHARE = 0.1


class MetricsLog:
    def __init__(self, path: Path, enabled: bool = True, draw: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        self.draw = draw
        self._next_draw = 0.0
        self._warned = False

    def reset(self) -> None:
        """Empieza el fichero de cero (un entrenamiento nuevo con un nombre ya usado)."""
        if self.enabled:
            with self._saving():
                self.path.unlink(missing_ok=True)

    def write(self, **record: Any) -> None:
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        with self._saving():
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._draw_curve(final=bool(record.get("final")))

    @contextlib.contextmanager
    def _saving(self) -> Iterator[None]:
        """Un disco lleno o sin permisos: SaveError (código 4), como al guardar un checkpoint."""
        try:
            yield
        except OSError as exc:
            raise SaveError(
                f"no se pudo escribir las métricas en '{self.path}': "
                f"{describe_os_error(exc)}. Los checkpoints ya guardados siguen intactos."
            ) from exc

    def _draw_curve(self, final: bool) -> None:
        start = time.perf_counter()
        if not self.draw or (start < self._next_draw and not final):
            return
        try:
            from trainer.plot import draw_run_curve

            draw_run_curve(self.path)
        except ImportError:
            self.draw = False  # sin matplotlib no hay figura; el entrenamiento sigue igual
        except Exception as exc:  # una figura nunca debe romper el entrenamiento
            if not self._warned:
                self._warned = True
                print(f"aviso: no se pudo dibujar la curva de pérdida: {exc}", file=sys.stderr)
        spent = time.perf_counter() - start
        self._next_draw = start + spent / DRAW_SHARE
