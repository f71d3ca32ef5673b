"""La aplicación Flask (fábrica ``create_app``), que gunicorn carga en cada worker.

gunicorn.conf.py no precarga la app: cada worker llama a ``create_app()`` después del fork y
carga allí su propio modelo (PyTorch no tolera bien que un proceso con hilos de cálculo se
bifurque).
"""

from __future__ import annotations

import logging
import sys

import torch
from flask import Flask

from server import metrics
from server.errors import register_error_handlers
from server.generation_service import GenerationService
from server.model_catalog import ModelCatalog
from server.model_store import ModelStore
from server.proxy_headers import strip_proxy_headers
from server.routes.attention import bp as attention_bp
from server.routes.completions import bp as completions_bp
from server.routes.generate import bp as generate_bp
from server.routes.meta import bp as meta_bp
from server.routes.models import bp as models_bp
from server.settings import Settings, configure_logging, load_env_file
from server.state import EXTENSION_KEY, ServerState
from shared.common.device import resolve_device
from shared.common.errors import DeviceError

log = logging.getLogger("server")

WORKER_BOOT_ERROR = 3  # gunicorn para el servidor entero si un worker sale con este código


def _configure_torch(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # ya fijado en este proceso: no se puede cambiar dos veces
        pass


def create_app(settings: Settings | None = None) -> Flask:
    if settings is None:
        load_env_file()
        settings = Settings.from_env()
    configure_logging(log, settings.log_level)
    _configure_torch(settings.torch_threads)

    app = Flask(__name__)
    app.wsgi_app = strip_proxy_headers(app.wsgi_app)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # "año", no "a\u00f1o"
    app.json.sort_keys = False  # type: ignore[attr-defined]

    try:
        device = resolve_device(settings.device)
    except DeviceError as exc:
        log.critical("error de configuración (DEVICE): %s", exc)
        sys.exit(WORKER_BOOT_ERROR)
    store = ModelStore(
        settings.checkpoint_dir,
        device,
        settings.reload_interval,
        on_loaded=lambda loaded: metrics.model_loaded(loaded.checkpoint.step),
        on_failed=metrics.model_failed,
    )
    service = GenerationService(settings.max_concurrent_generations, settings.batching)
    app.extensions[EXTENSION_KEY] = ServerState(
        settings, store, service, ModelCatalog(store, settings.max_extra_models)
    )

    register_error_handlers(app, settings.max_body_bytes)
    metrics.install(app)
    app.register_blueprint(meta_bp)
    app.register_blueprint(generate_bp)
    app.register_blueprint(completions_bp)
    app.register_blueprint(attention_bp)
    app.register_blueprint(models_bp)

    store.check()  # carga inicial: si no hay checkpoint, arranca igual (y /ready da 503)
    store.start_watching()
    return app
