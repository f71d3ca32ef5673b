"""Lo que comparten las rutas de un worker: ajustes, modelo y servicio de generación."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from server.errors import APIError
from server.generation_service import GenerationService
from server.model_store import LoadedModel, ModelStore
from server.settings import Settings

EXTENSION_KEY = "llm_desde_cero"


@dataclass
class ServerState:
    settings: Settings
    store: ModelStore
    service: GenerationService


def state() -> ServerState:
    return current_app.extensions[EXTENSION_KEY]


def require_model() -> LoadedModel:
    """El modelo actual, o un 503 en español si todavía no hay ninguno."""
    st = state()
    loaded = st.store.current()
    if loaded is None:
        raise APIError(
            503,
            f"todavía no hay ningún modelo cargado: el servidor espera a que aparezca un "
            f"checkpoint (*.pt) en '{st.settings.checkpoint_dir}'. Entrena uno con "
            "'make train' y el servidor lo cargará solo.",
            headers={"Retry-After": "5"},
        )
    return loaded
