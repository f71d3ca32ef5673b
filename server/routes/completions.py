"""POST /v1/completions: el subconjunto de la API de OpenAI que tiene sentido aquí.

Campos: model, prompt, max_tokens, temperature, top_p, seed, stream y n (``user`` se acepta y
se ignora, porque los clientes de OpenAI lo mandan). ``model`` elige un checkpoint de
GET /v1/models; sin él, el último utilizable. Con ``stream`` se
emiten trozos ``text_completion`` y, al final, ``data: [DONE]``, como hace OpenAI.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify

from server.auth import require_api_key
from server.errors import APIError
from server.generation_service import GenerationService, Reservation
from server.model_store import LoadedModel
from server.requests import check_vocabulary, resolve_seed
from server.schemas import (
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    CompletionUsage,
)
from server.sse import event, sse_response
from server.state import require_model, state
from server.validation import read_request
from shared.sampling import MAX_SEED, SamplingParams

log = logging.getLogger("server")
bp = Blueprint("completions", __name__)


def _choice_params(req: CompletionRequest, seed: int) -> list[SamplingParams]:
    # La muestra i usa la semilla + i, igual que `python -m trainer.generate --num-samples`
    # (dando la vuelta al llegar al máximo, para que cualquier semilla válida funcione).
    return [
        SamplingParams(
            max_new_tokens=req.max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            seed=(seed + i) % (MAX_SEED + 1),
        )
        for i in range(req.n)
    ]


@bp.post("/v1/completions")
def completions() -> Response:
    st = state()
    require_api_key(st.settings.api_key)
    req = read_request(CompletionRequest, st.settings)
    loaded = require_model(req.model)
    check_vocabulary(req.prompt, loaded)
    seed = resolve_seed(req.seed)
    params = _choice_params(req, seed)
    reservation = st.service.reserve()
    meta = {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "model": loaded.name,
    }
    if req.stream:
        events = _stream(st.service, loaded, req.prompt, params, meta, reservation)
        return sse_response(events, reservation.release)
    with reservation:
        steps = [list(st.service.stream(loaded, req.prompt, p)) for p in params]
    texts = ["".join(c.text for c in s) for s in steps]
    # Tokens del tokenizador del modelo (con caracteres, los mismos que caracteres).
    prompt_tokens = len(loaded.tokenizer.encode(req.prompt))
    generated = sum(len(s) for s in steps)
    body = CompletionResponse(
        **meta,
        choices=[
            CompletionChoice(text=t, index=i, finish_reason="length") for i, t in enumerate(texts)
        ],
        usage=CompletionUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=generated,
            total_tokens=prompt_tokens + generated,
        ),
    )
    return jsonify(body.model_dump())


def _stream(
    service: GenerationService,
    loaded: LoadedModel,
    prompt: str,
    params: list[SamplingParams],
    meta: dict[str, Any],
    reservation: Reservation,
) -> Iterator[str]:
    def chunk(index: int, text: str, finish: str | None) -> str:
        choice = CompletionChoice(text=text, index=index, finish_reason=finish)  # type: ignore[arg-type]
        body = CompletionResponse(**meta, choices=[choice])
        return event(body.model_dump(exclude={"usage"}))

    try:
        for i, p in enumerate(params):
            for char in service.stream(loaded, prompt, p):
                if char.text:  # medio carácter BPE: nada que enviar todavía
                    yield chunk(i, char.text, None)
            yield chunk(i, "", "length")
        yield event("[DONE]")
    except Exception:
        log.exception("fallo generando en streaming (/v1/completions)")
        yield event(APIError(500, "fallo interno durante la generación.").to_dict(), "error")
    finally:
        reservation.release()
