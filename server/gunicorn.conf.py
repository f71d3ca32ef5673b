"""Configuración de gunicorn para ``python -m server`` y ``make serve``.

Todos los valores salen de variables de entorno (o de ``.env``): ver ``server/settings.py``.
gunicorn ejecuta este fichero en el proceso maestro, antes de crear los workers.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

# Permite importar el proyecto aunque gunicorn se lance desde otro directorio.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.settings import Settings, load_env_file  # noqa: E402
from shared.common.errors import ConfigError  # noqa: E402

load_env_file()
try:
    _settings = Settings.from_env()
except ConfigError as exc:
    sys.exit(f"error de configuración: {exc}")

# Métricas de todos los workers sumadas: prometheus_client necesita un directorio compartido,
# fuera de CHECKPOINT_DIR (que puede ser de solo lectura). Se crea antes del fork.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="llm-metricas-")
# La identidad de esta réplica en /metrics (llm_replica_info): el pid de este proceso maestro.
os.environ["LLM_REPLICA_PID"] = str(os.getpid())

# Con más de un hilo de torch por worker, que los hilos esperen durmiendo y no dando vueltas:
# los workers se reparten los núcleos entre sí (y con otros procesos), y un hilo que espera
# activamente a otro que se ha quedado sin CPU hace cada paso varias veces más lento (medido al
# entrenar: trainer/threads.py, docs/BENCHMARKS.md). Con un hilo (lo normal) no hay esperas.
# Los workers importan torch después del fork, así que heredan la variable a tiempo.
_passive_wait = _settings.torch_threads > 1 and "OMP_WAIT_POLICY" not in os.environ
if _passive_wait:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

wsgi_app = "server.app:create_app()"
bind = [_settings.bind]
# Detrás de nginx (compose.yaml: FORWARDED_ALLOW_IPS="*" en el servidor, al que solo llega
# nginx), la dirección del cliente es la que nginx pone en X-Forwarded-For (la sobrescribe, no
# añade a la del cliente); sin proxy de confianza, la del socket.
if os.environ.get("FORWARDED_ALLOW_IPS", "").strip():
    access_log_format = (
        '%({x-forwarded-for}i)s - %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
    )
workers = _settings.web_concurrency
threads = _settings.threads
worker_class = "gthread"  # hilos: /health y los 429 responden aunque haya generaciones en curso
timeout = _settings.timeout
graceful_timeout = 30
keepalive = 5
preload_app = False  # cada worker carga PyTorch y el modelo tras el fork
loglevel = _settings.log_level
accesslog = "-"
errorlog = "-"
# Los mensajes de siempre de gunicorn (arrancar, escuchar, parar), en español.
logger_class = "server.gunicorn_log.SpanishLogger"
proc_name = "llm-desde-cero"
# Sin socket de control (gunicornc): no hace falta, y así nada se escribe en $HOME ni chocan
# dos servidores lanzados a la vez.
control_socket_disable = True
# Ningún cliente elige SCRIPT_NAME (ni PATH_INFO) ni el esquema (X-Forwarded-Proto...): gunicorn
# confía en esas cabeceras si vienen de FORWARDED_ALLOW_IPS (127.0.0.1 por defecto; "*" detrás
# de nginx en compose), y un cliente local las podría poner a mano. Con las listas vacías,
# SCRIPT_NAME se descarta (header_map="drop") y el esquema es el de la conexión.
# server/proxy_headers.py quita además las X-Forwarded-* del entorno de la aplicación.
forwarder_headers = ""
secure_scheme_headers: dict[str, str] = {}
# El cuerpo lo limita Flask (MAX_BODY_BYTES, con 413 en nuestro formato); aquí solo cabeceras.
limit_request_line = 8190


def on_starting(server):
    for warning in _settings.warnings():
        server.log.warning("aviso de configuración: %s", warning)
    server.log.info(
        "sirviendo '%s' con %d worker(s) × %d hilo(s), %d hilo(s) de torch por worker, "
        "generación por lotes: %s",
        _settings.checkpoint_dir, workers, threads, _settings.torch_threads,
        "sí" if _settings.batching else "no",
    )  # fmt: skip
    if _passive_wait:
        # Lo que heredarán los workers, leído del entorno (no de la intención).
        policy = os.environ.get("OMP_WAIT_POLICY")
        server.log.info("hilos de torch con espera pasiva (OMP_WAIT_POLICY=%s)", policy)


def child_exit(server, worker):
    # Las métricas "en vivo" de un worker muerto dejan de contar.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
