"""El servidor real en las pruebas (``python -m server`` → gunicorn) en un puerto libre de
loopback, y la forma única de sus errores.

El lanzador es ``bench/server_process.py`` (el mismo que usa el benchmark): PORT=0, el puerto leído
del registro de gunicorn, un directorio de trabajo propio y la lista única de variables.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bench import server_process as launcher
from bench.server_process import server_env

PROMPT = "Hola"  # todos sus caracteres están en el vocabulario de data/tiny_spanish.txt

# El formato de accesos de gunicorn más el pid del worker que respondió y la cabecera X-Prueba
# de la petición: así una prueba sabe qué worker atendió cada petición suya.
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" pid=%(p)s prueba=%({x-prueba}i)s'
)


def python_env(**extra: str) -> dict[str, str]:
    """El entorno de un proceso hijo sin las variables del servidor (las de la lista única de
    ``bench/server_process.py``), más ``extra``."""
    return server_env(**extra)


class ServerProcess(launcher.ServerProcess):
    """El lanzador del servidor (``bench/server_process.py``, el mismo que usa el benchmark) con
    atajos para las pruebas: peticiones con ``requests`` y esperas sobre el registro."""

    # Esperas acotadas pero holgadas: vuelven en cuanto se cumple la condición, y en una
    # máquina cargada cargar PyTorch en cada worker puede llevar decenas de segundos.
    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log())) >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"no apareció {pattern!r} ×{count} en el registro:\n{self.log()}")

    def wait_until(self, predicate: Any, timeout: float = 120, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"no se cumplió a tiempo: {what}\n{self.log()[-4000:]}")

    def worker_pid(self, tag: str, timeout: float = 30) -> int:
        """El pid del worker que atendió la petición con ``X-Prueba: tag`` (servidor lanzado con
        ``args=("--access-logformat", ACCESS_LOG_FORMAT)``). gunicorn escribe la línea al
        terminar la respuesta, quizá un instante después de que la reciba el cliente."""
        pattern = re.compile(rf"pid=<(\d+)> prueba={re.escape(tag)}$", re.MULTILINE)
        found: list[int] = []

        def seen() -> bool:
            found[:] = [int(pid) for pid in pattern.findall(self.log())]
            return bool(found)

        self.wait_until(seen, timeout=timeout, what=f"la línea de acceso de {tag}")
        return found[0]

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(path), json=body, timeout=60, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=60, **kwargs)


@contextmanager
def one_worker(workdir: Path, checkpoint_dir: Path) -> Iterator[ServerProcess]:
    """El servidor de un worker con el modelo ya cargado, parado al salir.

    WEB_CONCURRENCY=1: todas las peticiones van al mismo proceso, así que lo que dice una
    respuesta (la caché de modelos, «loaded») es lo de todo el servidor. TORCH_THREADS=1: el
    valor por defecto, escrito para que estas pruebas no cambien si cambia.
    RELOAD_INTERVAL=0: los checkpoints de la prueba no cambian, no hace falta vigilarlos."""
    srv = ServerProcess(
        workdir, CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="1", TORCH_THREADS="1", RELOAD_INTERVAL="0",
    )  # fmt: skip
    with srv.start():
        srv.wait_for_log(r"modelo cargado")
        yield srv


def metric(srv: ServerProcess, name: str) -> float:
    """Valor de una serie de /metrics sin etiquetas (o con las que se indiquen en ``name``)."""
    text = srv.get("/metrics").text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"falta {name} en /metrics:\n{text}"
    return float(match.group(1))


def batch_steps_with_more_rows_than(srv: ServerProcess, rows: int) -> float:
    """Pasos del motor por lotes que hicieron avanzar a más de ``rows`` generaciones juntas
    (``llm_batch_rows``; ``rows`` es uno de sus límites: 1, 2, 4, 8...). Con el lote parado."""
    at_most = metric(srv, f'llm_batch_rows_bucket{{le="{float(rows)}"}}')
    return metric(srv, "llm_batch_rows_count") - at_most


def assert_error(resp: Any, status: int, type_: str, param: str | None = None) -> dict:
    """Comprueba la forma única de los errores y devuelve su cuerpo. Vale para una respuesta de
    ``requests`` (servidor real) y para una del cliente de pruebas de Flask (en proceso)."""
    in_process = hasattr(resp, "get_json")
    text = resp.get_data(as_text=True) if in_process else resp.text
    assert resp.status_code == status, text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body = resp.get_json() if in_process else resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "type", "message", "param"}, err
    assert err["code"] == status and err["type"] == type_, err
    assert err["param"] == param, err
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    return err
