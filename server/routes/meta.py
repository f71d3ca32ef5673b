"""Rutas que no generan: salud, disponibilidad, información, métricas, docs y playground."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template

from server import metrics
from server.auth import authorized
from server.model_store import LoadedModel
from server.openapi import build_openapi
from server.requests import model_summary
from server.schemas import (
    MAX_CHOICES,
    MAX_TEMPERATURE,
    MAX_TOP_PROBS,
    HealthResponse,
    InfoResponse,
    Limits,
    ModelDetails,
    ReadyResponse,
    RejectedCheckpoint,
    Vocabulary,
)
from server.state import require_model, state
from shared.checkpoints.models import tokenizer_kind
from shared.tokenizer import CharTokenizer

bp = Blueprint("meta", __name__)


def vocab_chars(loaded: LoadedModel | None) -> list[str] | None:
    """Los caracteres que admite el prompt; None si no hay lista (sin modelo, o BPE: sus bytes
    codifican cualquier texto)."""
    if loaded is None or not isinstance(loaded.tokenizer, CharTokenizer):
        return None
    return loaded.tokenizer.chars


@bp.get("/health")
def health() -> Response:
    """Vivo: el proceso responde. No depende del modelo (para eso está /ready)."""
    return jsonify(HealthResponse(status="ok").model_dump())


@bp.get("/ready")
def ready() -> Response:
    loaded = require_model()  # 503 en español si todavía no hay modelo
    return jsonify(ReadyResponse(status="ready", model=model_summary(loaded)).model_dump())


@bp.get("/info")
def info() -> Response:
    st = state()
    s = st.settings
    # Con API_KEY y sin la clave: ni rutas, ni ficheros, ni nombres de modelos (auth.py).
    shown = authorized(s.api_key)
    loaded = st.store.current()
    details = vocab = block_size = None
    if loaded is not None:
        ckpt = loaded.checkpoint
        summary = model_summary(loaded)
        details = ModelDetails(
            **summary.model_dump(exclude=set() if shown else {"name"}),
            run_name=ckpt.run_name if shown else None,
            created_at=ckpt.created_at,
            file=loaded.path.name if shown else None,
            loaded_at=loaded.loaded_at,
            parameters=loaded.parameters,
            config=ckpt.config.to_dict(),
        )
        vocab = Vocabulary(
            size=loaded.tokenizer.vocab_size,
            chars=vocab_chars(loaded) or [],
            tokenizer=tokenizer_kind(loaded.tokenizer),
        )
        block_size = loaded.block_size
    body = InfoResponse(
        ready=loaded is not None,
        model=details,
        vocab=vocab,
        block_size=block_size,
        limits=Limits(
            max_new_tokens=s.max_new_tokens,
            max_prompt_chars=s.max_prompt_chars,
            max_body_bytes=s.max_body_bytes,
            max_concurrent_generations=s.max_concurrent_generations,
            max_attention_chars=s.max_attention_chars,
            max_temperature=MAX_TEMPERATURE,
            max_top_probs=MAX_TOP_PROBS,
            max_choices=MAX_CHOICES,
        ),
        auth_required=bool(s.api_key),
        rejected_checkpoints=[
            RejectedCheckpoint(file=r.file, reason=r.reason, rejected_at=r.rejected_at)
            for r in (st.store.rejections() if shown else [])
        ],
        checkpoint_dir=str(s.checkpoint_dir) if shown else None,
        redacted=not shown,
    )
    return jsonify(body.model_dump())


@bp.get("/metrics")
def metrics_text() -> Response:
    return metrics.render()


@bp.get("/openapi.json")
def openapi() -> Response:
    st = state()
    loaded = st.store.current()
    chars = vocab_chars(loaded)
    # Los identificadores de los modelos, solo para quien puede pedir GET /v1/models.
    model_ids = None
    if authorized(st.settings.api_key):
        model_ids = [e.id for e in st.catalog.entries()] or None
    block_size = loaded.block_size if loaded else None
    return jsonify(build_openapi(st.settings, chars, model_ids, block_size))


@bp.get("/docs")
def docs() -> str:
    st = state()
    loaded = st.store.current()
    doc = build_openapi(st.settings, vocab_chars(loaded))
    return render_template("docs.html", doc=doc)


@bp.get("/favicon.ico")
def favicon() -> Response:
    # Los navegadores lo piden siempre: un SVG pequeño en vez de un 404 en cada visita.
    resp = current_app.send_static_file("favicon.svg")
    resp.mimetype = "image/svg+xml"
    resp.cache_control.max_age = 86400
    return resp


@bp.get("/")
def playground() -> Response:
    # Página estática: sin paso de compilación ni CDN; el JS pide /info y /generate.
    return current_app.send_static_file("playground.html")
