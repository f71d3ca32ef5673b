"""Lo que comparten las rutas de un worker: ajustes, modelo y servicio de generación."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from server.errors import APIError
from server.generation_service import GenerationService
from server.model_catalog import ModelCatalog
from server.model_store import LoadedModel, ModelStore
from server.settings import Settings

EXTENSION_KEY = "llm_desde_cero"


@dataclass
class ServerState:
    settings: Settings
    store: ModelStore
    service: GenerationService
    catalog: ModelCatalog


def state() -> ServerState:
    return current_app.extensions[EXTENSION_KEY]


def require_model(name: str | None = None) -> LoadedModel:
    """El modelo pedido por nombre (404 si no está en GET /v1/models) o, sin nombre, el actual;
    un 503 en español si todavía no hay ninguno."""
    st = state()
    # Cargar un modelo bajo demanda ocupa una plaza de generación mientras dura.
    loaded = st.catalog.resolve(name, admit=st.service.reserve)
    if loaded is None:
        # Con API_KEY, ni la carpeta: /ready responde a cualquiera.
        where = "" if st.settings.api_key else f" en '{st.settings.checkpoint_dir}'"
        raise APIError(
            503,
            f"todavía no hay ningún modelo cargado: el servidor espera a que aparezca un "
            f"checkpoint (*.pt){where}. Entrena uno con 'make train' y el servidor lo "
            "cargará solo.",
            headers={"Retry-After": "5"},
        )
    return loaded
