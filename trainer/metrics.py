"""Métricas del entrenamiento en JSON Lines, una línea por evaluación, junto a los checkpoints."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class MetricsLog:
    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

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
