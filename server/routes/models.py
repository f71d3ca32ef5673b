"""GET /v1/models (los checkpoints de CHECKPOINT_DIR y de las carpetas hermanas de los otros
modelos, con la forma de OpenAI: ver server/model_catalog.py) y
GET /v1/models/<id>/metrics (los puntos del JSONL de métricas de su ejecución)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify

from server.auth import require_api_key
from server.model_catalog import CatalogEntry
from server.schemas import ModelEntry, ModelList, ModelMetrics
from server.state import state

bp = Blueprint("models", __name__)

MAX_METRICS_POINTS = 5000  # los últimos; un entrenamiento largo no hace crecer la respuesta sin fin


@bp.get("/v1/models")
def list_models() -> Response:
    st = state()
    require_api_key(st.settings.api_key)
    current = st.store.current()
    data = [
        ModelEntry(
            id=e.id,
            created=e.created,
            type=e.model_type,
            step=e.step,
            val_loss=e.val_loss,
            tokenizer=e.tokenizer,
            loaded=st.catalog.is_loaded(e),
            default=current is not None and current.key == e.key,
        )
        for e in st.catalog.entries()
    ]
    return jsonify(ModelList(data=data).model_dump())


def read_points(entry: CatalogEntry) -> list[dict[str, Any]]:
    path = entry.metrics_path
    if path is None:
        return []
    points = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines[-MAX_METRICS_POINTS:]:
        try:
            # NaN o Infinity (una pérdida que diverge) no son JSON válido: se sirven como null.
            record = json.loads(line, parse_constant=lambda _name: None)
        except json.JSONDecodeError:  # la última línea puede estar a medio escribir
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            points.append(record)
    return points


@bp.get("/v1/models/<path:model_id>/metrics")
def model_metrics(model_id: str) -> Response:
    st = state()
    require_api_key(st.settings.api_key)
    entry = st.catalog.find(model_id)  # 404 si no está en la lista (nunca es una ruta)
    body = ModelMetrics(id=entry.id, points=read_points(entry))
    resp = jsonify(body.model_dump())
    resp.headers["Cache-Control"] = "no-store"  # el entrenador sigue escribiendo
    return resp
