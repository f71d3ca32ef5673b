"""Métricas del entrenamiento en JSON Lines, una línea por evaluación, junto a los checkpoints.

Tras cada línea se redibuja la curva ``<run>.png`` (ver ``trainer/plot.py``). Dibujar nunca
para el entrenamiento: un fallo deja un aviso y, sin matplotlib, simplemente no hay figura.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

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
            self.path.unlink(missing_ok=True)

    def write(self, **record: Any) -> None:
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._draw_curve(final=bool(record.get("final")))

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
