"""Entrenar una ejecución de la comparación, o reutilizarla si ya se hizo con lo mismo.

La clave de una ejecución es un hash de sus ajustes y de los bytes del texto: si nada cambió,
el registro ``<nombre>-<clave>.json`` ya está y no se entrena otra vez. Ese registro se escribe
solo al terminar; una ejecución interrumpida se repetirá entera la próxima vez.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.checkpoints.files import METRICS_SUFFIX, load_checkpoint
from shared.checkpoints.shapes import count_parameters
from shared.common.errors import ConfigError
from trainer.loop import Trainer
from trainer.settings import TrainSettings

CACHE_FORMAT = 1  # súbelo si cambia lo que se guarda o cómo se entrena
# Ajustes que no cambian el resultado: dónde se guarda, el nombre y de qué fichero sale el texto
# (cuentan sus bytes, no su ruta).
NOT_IN_KEY = ("checkpoint_dir", "run_name", "data", "resume")


def data_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_key(settings: TrainSettings, data_sha256: str) -> str:
    relevant = {k: v for k, v in settings.to_dict().items() if k not in NOT_IN_KEY}
    if settings.tokenizer == "char":
        # Las ejecuciones de caracteres conservan la clave de antes de existir --tokenizer (y
        # --vocab-size no les cambia nada): lo ya entrenado se sigue reutilizando.
        del relevant["tokenizer"], relevant["vocab_size"]
    payload = json.dumps(
        {"format": CACHE_FORMAT, "settings": relevant, "data": data_sha256}, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


@dataclass
class RunFiles:
    """Los ficheros de una ejecución dentro de la carpeta ``runs/`` del informe."""

    directory: Path
    stem: str  # <nombre>-<clave>

    def path(self, suffix: str) -> Path:
        return self.directory / f"{self.stem}{suffix}"

    @property
    def record(self) -> Path:
        return self.path(".json")

    @property
    def checkpoint(self) -> Path:
        return self.path(".pt")

    @property
    def metrics(self) -> Path:
        return self.path(METRICS_SUFFIX)

    @property
    def curve(self) -> Path:
        return self.path(".png")

    @property
    def log(self) -> Path:
        return self.path(".log")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_record(files: RunFiles) -> dict[str, Any] | None:
    """El registro de una ejecución terminada, si está completo (con su checkpoint al lado)."""
    if not (files.record.is_file() and files.checkpoint.is_file()):
        return None
    try:
        record = json.loads(files.record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and record.get("key") else None


def train_run(
    settings: TrainSettings,
    files: RunFiles,
    key: str,
    tick: Callable[[int], bool],
) -> dict[str, Any] | None:
    """Entrena con el Trainer del proyecto; None si se interrumpió (``tick`` devolvió True)."""
    settings.run_name = files.stem
    for stale in (files.metrics, files.curve, files.record):
        stale.unlink(missing_ok=True)  # el JSONL se abre para añadir: empezamos limpios
    with open(files.log, "w", encoding="utf-8") as log:
        trainer = Trainer(
            settings,
            should_stop=tick,
            log=lambda line: print(line, file=log, flush=True),
            progress=False,
        )
        try:
            result = trainer.run()
        except FloatingPointError as exc:
            raise ConfigError(f"{exc} ({files.stem})") from exc
    if result.interrupted:
        return None
    ckpt = load_checkpoint(result.checkpoint_path)
    val = float(result.val_loss) if result.val_loss is not None else math.nan
    bits = result.bits_per_char if result.bits_per_char is not None else val / math.log(2)
    record = {
        "key": key,
        "settings": settings.to_dict(),
        "steps": result.step,
        "params": count_parameters(ckpt.config),
        "train_loss": result.train_loss,
        "val_loss": val,
        # Por carácter de texto, no por token: comparable entre tokenizadores.
        "bits_per_char": bits,
        "chars_per_token": result.chars_per_token or 1.0,
        "tokenizer": settings.tokenizer,
        "vocab_size": ckpt.config.vocab_size,
        "seconds": round(result.seconds, 2),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "checkpoint": files.checkpoint.name,
        "metrics": files.metrics.name,
        "curve": files.curve.name if files.curve.is_file() else None,
    }
    write_json_atomic(files.record, record)
    return record
