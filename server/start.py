"""Arrancar el servidor (``python -m server``; server/__main__.py solo llama a ``main``).

Los argumentos extra pasan tal cual a gunicorn (con server/gunicorn.conf.py; nunca el servidor
de desarrollo de Flask). El frente (server/front.py) escucha en el puerto público y gunicorn
detrás.

Orden de arranque: se validan los ajustes, se reserva el puerto público (un puerto ocupado da
un error en español al momento), se lanza gunicorn escuchando en un socket Unix de un
directorio privado (0700) y, cuando ese socket responde, el frente empieza a aceptar clientes.

Señales: SIGTERM (``docker stop``) y SIGINT (Ctrl+C) llegan al frente, que deja de aceptar
conexiones y pasa la misma señal a gunicorn (TERM: termina las peticiones en curso; INT: sale
ya). El frente sigue entregando esas respuestas hasta que gunicorn termina, y sale con su
mismo código. Si el frente muriera de golpe, el núcleo envía SIGTERM a gunicorn (PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from server.front import MAX_CONNECTIONS, Front, FrontConfig
from server.settings import Settings, configure_logging, load_env_file
from shared.common.addresses import playground_url
from shared.common.errors import ConfigError

CONF = Path(__file__).with_name("gunicorn.conf.py")
UPSTREAM_ENV = "LLM_UPSTREAM_SOCKET"  # gunicorn.conf.py escucha aquí si existe
BOOT_TIMEOUT = 120.0  # segundos para que gunicorn abra su socket
# Variables que gunicorn lee por su cuenta al importarse, antes que server/gunicorn.conf.py
# (p. ej. ``int(os.environ.get("WEB_CONCURRENCY", 1))``). compose las pasa vacías cuando .env no
# las define, y vacía debe valer lo mismo que sin definir: se quitan del entorno de gunicorn.
GUNICORN_IMPORT_VARS = ("WEB_CONCURRENCY", "PORT", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS",
                        "SENDFILE")  # fmt: skip

log = logging.getLogger("server.front")


def _public_socket(settings: Settings) -> socket.socket:
    host = settings.host.strip("[]")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sys.exit(f"error: no se puede escuchar en {settings.bind}: {exc.strerror or exc}")
    return sock


def _connection_cap() -> int:
    """Sube el límite de ficheros abiertos al máximo permitido; cada conexión usa dos (la del
    cliente y la de gunicorn), y algunos quedan para el propio proceso."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, (soft - 64) // 2))


def _die_with_parent() -> None:
    # Linux: si el frente muere (kill -9), gunicorn recibe SIGTERM en vez de quedar huérfano.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _wait_upstream(path: str, proc: asyncio.subprocess.Process) -> bool:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline and proc.returncode is None:
        try:
            _, writer = await asyncio.open_unix_connection(path)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return True
    return False


async def _run(settings: Settings, sock: socket.socket, gunicorn_args: list[str]) -> int:
    loop = asyncio.get_running_loop()
    private = tempfile.mkdtemp(prefix="llm-frente-")  # mkdtemp: solo accesible para este usuario
    upstream = os.path.join(private, "gunicorn.sock")
    env = {k: v for k, v in os.environ.items() if k not in GUNICORN_IMPORT_VARS or v.strip()}
    env[UPSTREAM_ENV] = upstream
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gunicorn", "-c", str(CONF), *gunicorn_args,
        env=env, start_new_session=True, preexec_fn=_die_with_parent,
    )  # fmt: skip
    stopping = asyncio.Event()
    listening: list[asyncio.Server] = []

    def _on_signal(signum: int) -> None:
        log.info("señal %s recibida: se la paso a gunicorn", signal.Signals(signum).name)
        stopping.set()
        for server in listening:  # no más conexiones nuevas; las abiertas siguen
            server.close()
        if proc.returncode is None:
            proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum)

    config = FrontConfig(
        upstream, settings.client_timeout, settings.max_body_bytes,
        max_connections=_connection_cap(),
    )  # fmt: skip
    front = Front(config)
    try:
        if await _wait_upstream(upstream, proc) and not stopping.is_set():
            sock.listen(2048)
            listening.append(await asyncio.start_server(front.handle, sock=sock, limit=65536))
            host, port = sock.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            log.info("escuchando en http://%s:%d (frente; gunicorn en %s)", shown, port, upstream)
            log.info(
                "plazo por petición: %gs (CLIENT_TIMEOUT); %gs entre peticiones de una "
                "conexión; hasta %d conexiones a la vez",
                settings.client_timeout, config.keepalive, config.max_connections,
            )  # fmt: skip
        code = await proc.wait()
    finally:
        for server in listening:
            server.close()
        # Las últimas respuestas ya están en camino: un momento para entregarlas.
        if front.active:
            await asyncio.wait(front.active, timeout=2)
        for task in front.active:
            task.cancel()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(private, ignore_errors=True)
    return code if code >= 0 else 128 - code


def run(gunicorn_args: list[str]) -> int:
    load_env_file()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"error de configuración: {exc}")
    configure_logging(log, settings.log_level)
    sock = _public_socket(settings)
    try:
        return asyncio.run(_run(settings, sock, gunicorn_args))
    finally:
        sock.close()


USAGE = """uso: python -m server [opciones de gunicorn]

Arranca el servidor HTTP (gunicorn + Flask) con el último checkpoint de CHECKPOINT_DIR.
Se configura con variables de entorno o con un fichero .env en el directorio actual.
Después: http://HOST:PORT/ (playground), /docs (API), /health, /ready, /info, /metrics.
"""


def announce() -> None:
    """Dónde abrir el playground, antes de los registros de gunicorn (técnicos)."""
    load_env_file()
    try:
        s = Settings.from_env()
    except ConfigError:
        return  # gunicorn.conf.py lo explica y termina
    if s.port == 0:
        return  # puerto elegido por el sistema: lo dice el registro («escuchando en»)
    url = playground_url({"HOST": s.host, "PORT": str(s.port)})
    print(
        f"Playground: {url}   API: {url}docs   (sirve {s.checkpoint_dir}; Ctrl+C para parar)",
        flush=True,
    )


def check_gunicorn_args(args: list[str]) -> None:
    """Los argumentos extra son de gunicorn: se comprueban con su propio argparse antes de
    arrancar nada, para que un flag mal escrito dé un error en español y no el de gunicorn."""
    if not args:
        return
    # gunicorn.config lee WEB_CONCURRENCY como entero al importarse: vacía o mal escrita sería
    # una traza aquí. Ese valor lo valida después Settings, con su error en español.
    web_concurrency = os.environ.pop("WEB_CONCURRENCY", None)
    try:
        from gunicorn.config import Config
    finally:
        if web_concurrency is not None:
            os.environ["WEB_CONCURRENCY"] = web_concurrency

    from shared.common.argparse_es import usage_error

    parser = Config().parser()
    parser.error = lambda message: usage_error("python -m server", message)  # type: ignore[method-assign]
    parser.parse_args(args)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        from server.settings_doc import help_text

        print(USAGE)
        print(help_text())
        return
    check_gunicorn_args(args)
    announce()
    sys.exit(run(args))
