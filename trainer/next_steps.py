"""Qué hacer después de entrenar: las órdenes exactas para este checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from trainer.settings import default_checkpoint_dir


def playground_url(env: dict[str, str | None] | None = None) -> str:
    """La dirección del playground con el HOST y el PORT del entorno o de ``.env``."""
    if env is None:
        env = {**dotenv_values(".env"), **os.environ}
    host = (env.get("HOST") or "").strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):  # «todas las interfaces»: desde aquí, esta máquina
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = (env.get("PORT") or "").strip() or "8000"
    return f"http://{host}:{port}/"


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
