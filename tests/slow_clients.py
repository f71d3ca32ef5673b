"""Clientes lentos y ociosos con sockets reales, y sondas que miden si el servidor sigue atendiendo.

Lo usan la prueba nativa (``python -m server``) y la de Docker (``docker compose up``):

* ``slow``: envía el principio de una petición y luego un byte cada ``TRICKLE`` segundos, sin
  terminar nunca las cabeceras (el ataque «slowloris»).
* ``idle``: abre la conexión y no envía nada.

Con esas conexiones abiertas se lanzan 40 sondas (``/health`` y un ``/generate`` corto, una
conexión nueva cada una, 5 s de plazo) y se cuentan las respondidas. Después se mide cuánto
tarda el servidor en cerrar cada conexión lenta.
"""

from __future__ import annotations

import http.client
import json
import selectors
import socket
import threading
import time
from dataclasses import dataclass

TRICKLE = 0.5
PROBES = 40
PROBE_TIMEOUT = 5.0
PROBE_BODY = json.dumps({"prompt": "Hola", "max_new_tokens": 5, "seed": 1})


@dataclass
class Outcome:
    answered: int  # sondas con 200 de las PROBES
    open_after_probes: int  # conexiones lentas aún abiertas al acabar las sondas
    closed_after: list[float]  # segundos desde su apertura hasta que el servidor las cerró
    failures: list[str]

    def summary(self, n: int, kind: str) -> str:
        closed = self.closed_after or [-1.0]
        return (
            f"{n} conexiones {kind}: {self.answered}/{PROBES} sondas respondidas, "
            f"{self.open_after_probes} seguían abiertas al acabar; {len(self.closed_after)} "
            f"cerradas por el servidor entre {min(closed):.1f} y {max(closed):.1f} s"
        )


class Crowd:
    """``n`` conexiones de un tipo contra ``host:port``, con un hilo que las alimenta."""

    def __init__(self, host: str, port: int, n: int, kind: str) -> None:
        self.socks: list[socket.socket] = []
        self.opened: list[float] = []
        for _ in range(n):
            sock = socket.create_connection((host, port), timeout=5)
            if kind == "slow":
                sock.sendall(b"POST /generate HTTP/1.1\r\nHost: lento\r\nX-Lento: ")
            self.socks.append(sock)
            self.opened.append(time.monotonic())
        self.kind = kind
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while self.kind == "slow" and not self.stop.wait(TRICKLE):
            for sock in self.socks:
                try:
                    sock.send(b"a")
                except OSError:  # el servidor ya la cerró
                    pass

    def wait_closed(self, limit: float) -> tuple[list[float], int]:
        """Segundos hasta el cierre de cada conexión; y cuántas siguen abiertas tras ``limit``."""
        closed: dict[int, float] = {}
        sel = selectors.DefaultSelector()
        for i, sock in enumerate(self.socks):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + limit
        while len(closed) < len(self.socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                i = key.data
                try:
                    data = self.socks[i].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed[i] = time.monotonic() - self.opened[i]
                    sel.unregister(self.socks[i])
        sel.close()
        return list(closed.values()), len(self.socks) - len(closed)

    def is_open(self) -> int:
        """Cuántas conexiones no ha cerrado aún el servidor (sin consumir nada)."""
        alive = 0
        for sock in self.socks:
            sock.setblocking(False)
            try:
                sock.recv(1, socket.MSG_PEEK)  # un 408 o el cierre: el servidor ya la soltó
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
            sock.setblocking(True)
        return alive

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.socks:
            sock.close()


def probe(host: str, port: int, i: int) -> str | None:
    """Una sonda: ``None`` si respondió 200 en PROBE_TIMEOUT, si no, qué pasó."""
    conn = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT)
    try:
        if i % 2:
            headers = {"Content-Type": "application/json"}
            conn.request("POST", "/generate", PROBE_BODY, headers)
        else:
            conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        return None if resp.status == 200 else f"sonda {i}: {resp.status}"
    except (OSError, http.client.HTTPException) as exc:
        return f"sonda {i}: {type(exc).__name__} {exc}"
    finally:
        conn.close()


def measure(host: str, port: int, n: int, kind: str, close_limit: float) -> Outcome:
    crowd = Crowd(host, port, n, kind)
    try:
        time.sleep(1.0)  # que el servidor haya aceptado (y empezado a leer) todas
        failures = [f for i in range(PROBES) if (f := probe(host, port, i))]
        still_open = crowd.is_open()
        closed_after, _left = crowd.wait_closed(close_limit)
    finally:
        crowd.close()
    return Outcome(PROBES - len(failures), still_open, closed_after, failures)
