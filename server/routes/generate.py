"""POST /generate: la API propia, con respuesta JSON o en streaming (SSE).

Con ``stop``, el texto termina justo antes de la primera parada (``finish_reason: "stop"``);
en streaming, lo que podría ser el comienzo de una parada espera a saberse (server/stops.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify

from server.auth import require_api_key
from server.errors import APIError
from server.generation_service import GenerationService, Reservation
from server.model_store import LoadedModel
from server.requests import check_vocabulary, model_summary, prompt_tokens, resolve_seed
from server.schemas import (
    DEFAULT_NEW_TOKENS,
    CharStep,
    GenerateRequest,
    GenerateResponse,
    Timings,
    TopProb,
    Usage,
)
from server.sse import event, sse_response
from server.state import require_model, state
from server.stops import StopFilter, stop_list
from server.validation import read_request
from shared.generation import GeneratedChar
from shared.sampling import SamplingParams

log = logging.getLogger("server")
bp = Blueprint("generate", __name__)


def _top(char: GeneratedChar) -> list[TopProb]:
    return [TopProb(char=c, prob=p) for c, p in char.top]


def _final(
    loaded: LoadedModel,
    req: GenerateRequest,
    chars: list[GeneratedChar],
    seed: int,
    secs: float,
    finish_reason: str,
) -> dict[str, Any]:
    text = "".join(c.text for c in chars)
    # Un paso por token: con caracteres, tantos como caracteres; con BPE, menos.
    body = GenerateResponse(
        text=text,
        model=model_summary(loaded),
        usage=Usage(
            prompt_chars=len(req.prompt),
            generated_chars=len(text),
            prompt_tokens=prompt_tokens(loaded, req.prompt),
            generated_tokens=len(chars),
        ),
        timings=Timings(
            total_ms=round(secs * 1000, 3),
            chars_per_second=round(len(text) / secs, 1) if secs > 0 else 0.0,
            tokens_per_second=round(len(chars) / secs, 1) if secs > 0 else 0.0,
        ),
        seed=seed,
        finish_reason=finish_reason,
        chars=[CharStep(text=c.text, top=_top(c), token=c.token) for c in chars]
        if req.top_probs
        else None,
    )
    data = body.model_dump()
    # Sin top_probs no hay detalle por carácter: el campo no sale (val_loss sí puede ser null).
    if data["chars"] is None:
        del data["chars"]
    return data


@bp.post("/generate")
def generate() -> Response:
    st = state()
    require_api_key(st.settings.api_key)
    req = read_request(GenerateRequest, st.settings)
    max_new = req.max_new_tokens or min(DEFAULT_NEW_TOKENS, st.settings.max_new_tokens)
    loaded = require_model(req.model)
    check_vocabulary(req.prompt, loaded)
    seed = resolve_seed(req.seed)
    params = SamplingParams(
        max_new_tokens=max_new,
        temperature=req.temperature,
        top_k=req.top_k,
        top_p=req.top_p,
        seed=seed,
        top_probs=req.top_probs,
    )
    reservation = st.service.reserve()
    if req.stream:
        return sse_response(
            _stream_events(st.service, loaded, req, params, reservation), reservation.release
        )
    with reservation:
        t0 = time.perf_counter()
        stops = StopFilter(stop_list(req.stop))
        chars = list(stops.run(st.service.stream(loaded, req.prompt, params, reservation)))
        secs = time.perf_counter() - t0
    return jsonify(_final(loaded, req, chars, seed, secs, stops.finish_reason))


def _stream_events(
    service: GenerationService,
    loaded: LoadedModel,
    req: GenerateRequest,
    params: SamplingParams,
    reservation: Reservation,
) -> Iterator[str]:
    """Un evento por carácter y, al final, ``event: done`` con los mismos totales que el JSON.

    Corre después de que la vista haya devuelto la respuesta (fuera del contexto de Flask): todo
    lo que necesita le llega como argumento.
    """
    chars: list[GeneratedChar] = []
    t0 = time.perf_counter()
    stops = StopFilter(stop_list(req.stop))
    try:
        for i, char in enumerate(
            stops.run(service.stream(loaded, req.prompt, params, reservation))
        ):
            chars.append(char)
            chunk: dict[str, Any] = {"index": i, "text": char.text}
            if req.top_probs:
                chunk["top"] = [t.model_dump() for t in _top(char)]
                chunk["token"] = char.token
            yield event(chunk)
        secs = time.perf_counter() - t0
        assert params.seed is not None
        final = _final(loaded, req, chars, params.seed, secs, stops.finish_reason)
        final.pop("chars", None)  # ya viajaron uno a uno: no se repiten
        yield event(final, "done")
    except Exception:
        # Las cabeceras (200) ya salieron: el error viaja como un evento más.
        log.exception("fallo generando en streaming")
        yield event(APIError(500, "fallo interno durante la generación.").to_dict(), "error")
    finally:
        reservation.release()
