"""Qué hacer después de entrenar: las órdenes exactas para este checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from shared.common.addresses import playground_url
from trainer.settings import default_checkpoint_dir


def next_steps(model: str, checkpoint_path: Path) -> list[str]:
    """Líneas para la consola. En Docker (compose fija LLM_IN_DOCKER) el servidor ya está."""
    url = os.environ.get("PLAYGROUND_URL") or playground_url()
    url = url.replace("://0.0.0.0:", "://127.0.0.1:")  # «todas las interfaces» → esta máquina
    if os.environ.get("LLM_IN_DOCKER") == "1":
        return [
            "Siguiente paso: el contenedor «server» ya sirve este checkpoint.",
            f"  playground: {url}   prueba: make smoke",
        ]
    folder = checkpoint_path.parent
    knobs = "" if model == "gpt" else f" MODEL={model}"
    if os.path.normpath(folder) != os.path.normpath(default_checkpoint_dir(model)):
        knobs = f' CHECKPOINT_DIR="{folder}"'
    return [
        "Siguientes pasos:",
        f'  make generate{knobs}   texto con este modelo (PROMPT="..." para empezar por otro)',
        f"  make serve{knobs}      servirlo; el playground queda en {url}",
    ]
