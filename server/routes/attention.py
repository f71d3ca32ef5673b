"""POST /attention: los pesos de atención de cada capa y cabeza para un prompt.

Los calcula ``shared/engine/attention_map.py`` con la atención explícita del propio modelo (la de la
lección). El prompt se limita a MAX_ATTENTION_CHARS caracteres (un ajuste de
server/settings.py) y al block_size del modelo: la respuesta crece con capas × cabezas × T², y
más allá ya no se puede leer.
"""

from __future__ import annotations

import copy

from flask import Blueprint, Response, jsonify

from server.auth import require_api_key
from server.errors import APIError
from server.requests import check_vocabulary, model_summary
from server.schemas import AttentionRequest, AttentionResponse
from server.state import require_model, state
from server.validation import read_request
from shared.checkpoints.models import tokenizer_kind
from shared.engine.attention_map import attention_map

bp = Blueprint("attention", __name__)


@bp.post("/attention")
def attention() -> Response:
    st = state()
    require_api_key(st.settings.api_key)
    req = read_request(AttentionRequest, st.settings)
    loaded = require_model(req.model)
    if loaded.checkpoint.model_type != "gpt":
        raise APIError(
            422,
            f"el modelo '{loaded.name}' es un {loaded.checkpoint.model_type} y no tiene atención: "
            "cada carácter solo mira al anterior, a través de una tabla. Elige un modelo GPT "
            "(GET /v1/models los lista).",
            param="model",
        )
    if not req.prompt:
        raise APIError(
            422, "el prompt está vacío: hace falta al menos un carácter.", param="prompt"
        )
    cap = st.settings.max_attention_chars
    # Con caracteres, el block_size también cuenta caracteres; con BPE cuenta tokens (abajo).
    is_bpe = tokenizer_kind(loaded.tokenizer) == "bpe"
    limit = cap if is_bpe else min(cap, loaded.block_size)
    if len(req.prompt) > limit:
        raise APIError(
            422,
            f"el prompt tiene {len(req.prompt)} caracteres y el mapa de atención admite como "
            f"máximo {limit} (el menor entre MAX_ATTENTION_CHARS={cap} y el block_size del "
            "modelo).",
            param="prompt",
        )
    n_tokens = check_vocabulary(req.prompt, loaded)
    if n_tokens > loaded.block_size:
        raise APIError(
            422,
            f"el prompt tiene {n_tokens} tokens y el modelo solo mira {loaded.block_size} "
            "(block_size): acórtalo.",
            param="prompt",
        )
    # Se calcula sobre una copia: record_weights es un estado del módulo, y otra petición puede
    # estar generando a la vez con el mismo modelo (sus pasadas pisarían los pesos guardados).
    with st.service.reserve():
        amap = attention_map(copy.deepcopy(loaded.model), loaded.tokenizer, req.prompt)
    body = AttentionResponse(chars=amap.chars, layers=amap.layers, model=model_summary(loaded))
    return jsonify(body.model_dump())
