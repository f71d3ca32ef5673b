"""POST /v1/completions: la API de completions de OpenAI, tal como la usan sus clientes.

Campos: model, prompt (texto o lista), max_tokens (16 por defecto, como OpenAI), temperature,
top_p, seed, n, stream (con stream_options.include_usage), stop, logprobs y echo. ``suffix`` se
rechaza con un 400 que explica por qué. Cualquier otro campo (``user``, ``frequency_penalty``...)
se ignora: la respuesta los nombra en la cabecera ``X-Ignored-Fields`` y el registro también.
``model`` elige un checkpoint de GET /v1/models; sin él, el último utilizable.

Cada prompt da ``n`` respuestas; la de índice ``p * n + i`` es la muestra i del prompt p y usa la
semilla + i. Con ``stream`` se emiten trozos ``text_completion`` y, al final, ``data: [DONE]``.

POST /v1/chat/completions responde con un error que explica por qué un modelo base no chatea.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify

from server.auth import require_api_key
from server.errors import APIError
from server.generation_service import GenerationService, Reservation
from server.model_store import LoadedModel
from server.openai_compat import (
    IGNORED_HEADER,
    generated_logprobs,
    ignored_fields,
    ignored_header,
    join_logprobs,
    prompt_logprobs,
    refuse_chat,
    refuse_suffix,
)
from server.openai_schemas import (
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    CompletionResponse,
    CompletionUsage,
)
from server.requests import check_vocabulary, prompt_tokens, resolve_seed
from server.schemas import limits
from server.sse import event, sse_response
from server.state import require_model, state
from server.stops import StopFilter, stop_list
from server.validation import read_json_object, validate
from shared.sampling import MAX_SEED, SamplingParams

log = logging.getLogger("server")
bp = Blueprint("completions", __name__)


@dataclass(frozen=True)
class _Job:
    """Una respuesta (``choice``) que generar: su índice, su prompt y sus ajustes."""

    index: int
    prompt: str
    params: SamplingParams


def _jobs(req: CompletionRequest, seed: int) -> list[_Job]:
    # La muestra i usa la semilla + i, igual que `python -m trainer.generate --num-samples`
    # (dando la vuelta al llegar al máximo, para que cualquier semilla válida funcione).
    return [
        _Job(
            index=p * req.n + i,
            prompt=prompt,
            params=SamplingParams(
                max_new_tokens=req.max_tokens or 0,
                temperature=req.temperature,
                top_p=req.top_p,
                seed=(seed + i) % (MAX_SEED + 1),
                top_probs=req.logprobs or 0,
            ),
        )
        for p, prompt in enumerate(req.prompts)
        for i in range(req.n)
    ]


def _read() -> tuple[CompletionRequest, list[str]]:
    settings = state().settings
    data = read_json_object()
    suffix = data.get("suffix")
    if isinstance(suffix, str) and suffix:
        raise refuse_suffix()
    req = validate(
        CompletionRequest, data, limits(settings.max_prompt_chars, settings.max_new_tokens)
    )
    ignored = ignored_fields(data, CompletionRequest)
    if ignored:
        log.info("/v1/completions: campos ignorados (no los usa este servidor): %s",
                 ignored_header(ignored))  # fmt: skip
    return req, ignored


@bp.post("/v1/completions")
def completions() -> Response:
    st = state()
    require_api_key(st.settings.api_key)
    req, ignored = _read()
    loaded = require_model(req.model)
    for prompt in req.prompts:
        check_vocabulary(prompt, loaded)
    jobs = _jobs(req, resolve_seed(req.seed))
    reservation = st.service.reserve()
    meta = {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "model": loaded.name,
    }
    if req.stream:
        events = _stream(st.service, loaded, req, jobs, meta, reservation)
        resp = sse_response(events, reservation.release)
    else:
        with reservation:
            runs = [_Run(st.service, loaded, req, job, reservation) for job in jobs]
            choices = [run.whole() for run in runs]
        body = CompletionResponse(**meta, choices=choices, usage=_usage(loaded, req, runs))
        resp = jsonify(body.model_dump())
    if ignored:
        resp.headers[IGNORED_HEADER] = ignored_header(ignored)
    return resp


@bp.post("/v1/chat/completions")
def chat_completions() -> Response:
    raise refuse_chat()


class _Run:
    """Una respuesta en marcha: los caracteres del modelo, cortados en la primera parada."""

    def __init__(
        self,
        service: GenerationService,
        loaded: LoadedModel,
        req: CompletionRequest,
        job: _Job,
        reservation: Reservation,
    ) -> None:
        self.job = job
        self.echo = req.echo
        self.logprobs = req.logprobs is not None
        self.stops = StopFilter(stop_list(req.stop))
        self.pieces = self.stops.run(service.stream(loaded, job.prompt, job.params, reservation))

    @property
    def start(self) -> str:
        return self.job.prompt if self.echo else ""

    def start_logprobs(self) -> CompletionLogprobs | None:
        return prompt_logprobs(self.start) if self.logprobs else None

    def whole(self) -> CompletionChoice:
        chars = list(self.pieces)
        text = self.start + "".join(c.text for c in chars)
        logprobs = None
        if self.logprobs:
            generated = generated_logprobs(chars, len(self.start))
            logprobs = join_logprobs([prompt_logprobs(self.start), generated])
        return CompletionChoice(
            text=text,
            index=self.job.index,
            logprobs=logprobs,
            finish_reason=self.stops.finish_reason,  # type: ignore[arg-type]
        )


def _usage(loaded: LoadedModel, req: CompletionRequest, runs: list[_Run]) -> CompletionUsage:
    # Como OpenAI: cada prompt cuenta una vez, y se cuenta todo lo que generó el modelo (también
    # los caracteres de una parada, que no se entregan).
    prompt = sum(prompt_tokens(loaded, p) for p in req.prompts)
    generated = sum(run.stops.produced for run in runs)
    return CompletionUsage(
        prompt_tokens=prompt, completion_tokens=generated, total_tokens=prompt + generated
    )


def _stream(
    service: GenerationService,
    loaded: LoadedModel,
    req: CompletionRequest,
    jobs: list[_Job],
    meta: dict[str, Any],
    reservation: Reservation,
) -> Iterator[str]:
    def chunk(
        index: int, text: str, finish: str | None, logprobs: CompletionLogprobs | None = None
    ) -> str:
        choice = CompletionChoice(text=text, index=index, logprobs=logprobs, finish_reason=finish)  # type: ignore[arg-type]
        body = CompletionResponse(**meta, choices=[choice])
        return event(body.model_dump(exclude={"usage"}))

    runs: list[_Run] = []
    try:
        for job in jobs:
            run = _Run(service, loaded, req, job, reservation)
            runs.append(run)
            offset = len(run.start)
            if run.start:
                yield chunk(job.index, run.start, None, run.start_logprobs())
            for char in run.pieces:
                if not char.text:  # medio carácter BPE: nada que enviar todavía
                    continue
                lp = generated_logprobs([char], offset) if run.logprobs else None
                offset += len(char.text)
                yield chunk(job.index, char.text, None, lp)
            yield chunk(job.index, "", run.stops.finish_reason)
        if req.stream_options is not None and req.stream_options.include_usage:
            usage = CompletionResponse(**meta, choices=[], usage=_usage(loaded, req, runs))
            yield event(usage.model_dump())
        yield event("[DONE]")
    except Exception:
        log.exception("fallo generando en streaming (/v1/completions)")
        yield event(APIError(500, "fallo interno durante la generación.").to_dict(), "error")
    finally:
        reservation.release()
