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
    probing: float  # segundos que duraron las 40 sondas

    def summary(self, n: int, kind: str) -> str:
        closed = self.closed_after or [-1.0]
        return (
            f"{n} conexiones {kind}: {self.answered}/{PROBES} sondas respondidas, "
            f"en {self.probing:.1f} s; {self.open_after_probes} seguían abiertas al acabar; "
            f"{len(self.closed_after)} "
            f"cerradas por el servidor entre {min(closed):.1f} y {max(closed):.1f} s"
        )


class Crowd:
    """``n`` conexiones de un tipo contra ``host:port``, con un hilo que las alimenta (si son
    lentas) y que apunta en cuanto el servidor cierra cada una (a la vez que las sondas)."""

    def __init__(self, host: str, port: int, n: int, kind: str) -> None:
        self.socks: list[socket.socket] = []
        self.opened: list[float] = []
        self.closed: dict[int, float] = {}  # índice → segundos desde su apertura
        for _ in range(n):
            sock = socket.create_connection((host, port), timeout=5)
            if kind == "slow":
                sock.sendall(b"POST /generate HTTP/1.1\r\nHost: lento\r\nX-Lento: ")
            sock.setblocking(False)
            self.socks.append(sock)
            self.opened.append(time.monotonic())
        self.kind = kind
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for i, sock in enumerate(self.socks):
            sel.register(sock, selectors.EVENT_READ, i)
        next_byte = time.monotonic() + TRICKLE
        while not self.stop.is_set() and len(self.closed) < len(self.socks):
            for key, _ in sel.select(timeout=0.05):
                self._read(key.data, sel)
            if self.kind == "slow" and time.monotonic() >= next_byte:
                next_byte += TRICKLE
                for i, sock in enumerate(self.socks):
                    if i not in self.closed:
                        try:
                            sock.send(b"a")
                        except OSError:  # ya cerrada: select() lo dirá
                            pass
        sel.close()

    def _read(self, i: int, sel: selectors.BaseSelector) -> None:
        try:
            data = self.socks[i].recv(65536)  # un 408, o b"" al cerrar
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            with self.lock:
                self.closed[i] = time.monotonic() - self.opened[i]
            sel.unregister(self.socks[i])

    def open_count(self) -> int:
        with self.lock:
            return len(self.socks) - len(self.closed)

    def wait_closed(self, limit: float) -> list[float]:
        """Espera (hasta ``limit`` s) a que el servidor las cierre; segundos hasta cada cierre."""
        deadline = time.monotonic() + limit
        while self.open_count() and time.monotonic() < deadline:
            time.sleep(0.1)
        with self.lock:
            return list(self.closed.values())

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
        started = time.monotonic()
        failures = [f for i in range(PROBES) if (f := probe(host, port, i))]
        probing = time.monotonic() - started
        still_open = crowd.open_count()
        closed_after = crowd.wait_closed(close_limit)
    finally:
        crowd.close()
    return Outcome(PROBES - len(failures), still_open, closed_after, failures, probing)
