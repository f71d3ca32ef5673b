"""El frente: un proxy asyncio (solo biblioteca estándar) entre los clientes y gunicorn.

Por qué existe: los workers gthread de gunicorn dedican un hilo a cada conexión mientras leen
la petición, sin plazo para las cabeceras ni para el cuerpo. Ocho clientes que envían un byte
cada dos segundos (o 200 conexiones que no envían nada) bastaban para dejar sin hilos a todo el
servidor. La recomendación de gunicorn es poner delante un proxy que acumule la petición; este
es ese proxy, dentro de ``python -m server``, así que protege igual en local que en Docker.

Qué hace con cada conexión:

1. Lee la petición entera (cabeceras y cuerpo) con un plazo: ``CLIENT_TIMEOUT`` segundos desde
   que se abre la conexión (o desde el primer byte de la siguiente petición); entre peticiones
   de una misma conexión espera como mucho ``KEEPALIVE`` segundos. Quien no cumple el plazo
   recibe un 408 (o nada, si no llegó a enviar nada) y se le cierra la conexión.
2. Limita tamaños: cabeceras (431), cuerpo por ``MAX_BODY_BYTES`` también troceado (413).
3. Solo entonces abre una conexión con gunicorn (socket Unix privado), le envía la petición
   completa precedida de una línea PROXY (así gunicorn registra la IP real del cliente) y le
   devuelve la respuesta trozo a trozo según llega: el streaming SSE sigue siendo streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from server.errors import ERROR_TYPES
from server.front_http import (
    HOP_BY_HOP,
    ClientGone,
    Conn,
    FrontError,
    Request,
    body_framing,
    read_chunked,
    read_head,
)

log = logging.getLogger("server.front")

KEEPALIVE = 5.0  # segundos de espera entre peticiones de una conexión (como gunicorn)
# La respuesta se acumula aquí hasta 1 MiB si el cliente lee despacio: gunicorn termina y suelta
# su hilo. Si el cliente no acepta nada durante SEND_TIMEOUT segundos, se le cierra (como el
# send_timeout de nginx): así un lector lento tampoco retiene un hilo de gunicorn para siempre.
WRITE_BUFFER = 1 << 20
SEND_TIMEOUT = 60.0
MAX_CONNECTIONS = 1000  # tope de conexiones a la vez (menos si faltan descriptores de fichero)
REASONS = {
    400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large", 414: "URI Too Long",
    431: "Request Header Fields Too Large", 502: "Bad Gateway", 505: "HTTP Version Not Supported",
}  # fmt: skip


@dataclass(frozen=True)
class FrontConfig:
    upstream: str  # ruta del socket Unix de gunicorn
    client_timeout: float
    max_body_bytes: int
    keepalive: float = KEEPALIVE
    max_connections: int = MAX_CONNECTIONS


def error_bytes(status: int, message: str, close: bool) -> bytes:
    """Una respuesta de error completa, con la forma JSON de server/errors.py."""
    body = json.dumps(
        {"error": {"code": status, "type": ERROR_TYPES.get(status, "error"),
                   "message": message, "param": None}},
        ensure_ascii=False,
    ).encode()  # fmt: skip
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    return head.encode("ascii") + body


class Front:
    def __init__(self, config: FrontConfig) -> None:
        self.config = config
        self.active: set[asyncio.Task[None]] = set()
        # Las que aún están leyendo su petición, con la hora en que empezaron a esperarla.
        self.waiting: dict[asyncio.Task[None], float] = {}
        self.evicted: set[asyncio.Task[None]] = set()

    def _evict_oldest_waiting(self) -> bool:
        """Con el tope alcanzado, cierra la conexión que más lleva esperando su petición: así una
        avalancha de conexiones mudas no deja fuera a los clientes nuevos."""
        if not self.waiting:
            return False
        oldest = min(self.waiting, key=self.waiting.__getitem__)
        del self.waiting[oldest]
        self.evicted.add(oldest)
        oldest.cancel()
        return True

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.active) >= self.config.max_connections and not self._evict_oldest_waiting():
            writer.close()  # todas ocupadas en peticiones completas: no hay sitio
            return
        self.active.add(task)
        writer.transport.set_write_buffer_limits(high=WRITE_BUFFER)
        try:
            await self._serve(reader, writer)
        except (ClientGone, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            if task not in self.evicted:
                raise
        finally:
            self.active.discard(task)
            self.waiting.pop(task, None)
            self.evicted.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        peer = writer.get_extra_info("peername")
        conn = Conn(reader)
        cfg = self.config
        # La primera petición: todo (incluida la espera) dentro de CLIENT_TIMEOUT.
        deadline = idle_deadline = loop.time() + cfg.client_timeout
        task = asyncio.current_task()
        assert task is not None
        while True:
            self.waiting[task] = loop.time()
            try:
                req = await read_head(conn, deadline, idle_deadline)
                await self._read_body(req, conn, writer, deadline)
                del self.waiting[task]
            except FrontError as err:
                self.waiting.pop(task, None)
                log.info('%s "%s" %d (frente)', _ip(peer), "petición rechazada", err.status)
                writer.write(error_bytes(err.status, err.message, close=True))
                await asyncio.wait_for(writer.drain(), cfg.client_timeout)
                return
            keep = await self._forward(req, peer, conn, writer)
            if not keep:
                return
            # Siguientes peticiones: KEEPALIVE hasta el primer byte, y el plazo empieza ahí.
            idle_deadline = loop.time() + cfg.keepalive
            deadline = idle_deadline + cfg.client_timeout

    async def _read_body(
        self, req: Request, conn: Conn, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        size = body_framing(req, self.config.max_body_bytes)
        expect = (req.header(b"expect") or b"").lower() == b"100-continue"
        if expect and (size is None or size > len(conn.buf)):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if size is None:
            req.body = await read_chunked(conn, self.config.max_body_bytes, deadline)
        elif size:
            req.body = await conn.take(size, deadline)

    async def _forward(
        self, req: Request, peer: object, conn: Conn, writer: asyncio.StreamWriter
    ) -> bool:
        """Pasa la petición a gunicorn y copia la respuesta. Devuelve si la conexión sigue."""
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.config.upstream)
        except OSError:
            log.error("el frente no puede hablar con gunicorn (%s)", self.config.upstream)
            message = "el servidor no está disponible ahora mismo; vuelve a intentarlo."
            writer.write(error_bytes(502, message, close=True))
            await asyncio.wait_for(writer.drain(), self.config.client_timeout)
            return False
        try:
            up_writer.write(_upstream_request(req, peer))
            await up_writer.drain()
            return await self._relay_response(req, up_reader, conn, writer)
        finally:
            up_writer.close()

    async def _relay_response(
        self,
        req: Request,
        up_reader: asyncio.StreamReader,
        conn: Conn,
        writer: asyncio.StreamWriter,
    ) -> bool:
        try:
            head = await up_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            log.error("gunicorn cerró la conexión sin responder a %s", req.target[:200])
            message = "el servidor no pudo completar la petición; vuelve a intentarlo."
            writer.write(error_bytes(502, message, close=True))
            await asyncio.wait_for(writer.drain(), self.config.client_timeout)
            return False
        head, keep = _client_head(head, req)
        writer.write(head)
        # Si el cliente se va a mitad (p. ej. corta un streaming), se corta también gunicorn:
        # así la generación abandonada deja de ocupar el modelo.
        watcher = asyncio.create_task(_wait_client_gone(conn))
        read: asyncio.Task[bytes] | None = None
        try:
            while True:
                read = asyncio.create_task(up_reader.read(65536))
                done, _ = await asyncio.wait({read, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if watcher in done:
                    raise ClientGone
                chunk = read.result()
                if not chunk:
                    break
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), SEND_TIMEOUT)
        finally:
            watcher.cancel()
            if read is not None:
                read.cancel()
        return keep


async def _wait_client_gone(conn: Conn) -> None:
    """Termina cuando el cliente cierra; lo que envíe antes (siguiente petición) se guarda."""
    while True:
        try:
            chunk = await conn.reader.read(65536)
        except OSError:
            return
        if not chunk:
            return
        conn.buf += chunk
        if len(conn.buf) > 4 * 65536:
            await asyncio.sleep(3600)  # deja de leer: ya tiene trabajo de sobra en cola


def _ip(peer: object) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else "-"


def _upstream_request(req: Request, peer: object) -> bytes:
    ip = _ip(peer)
    port = peer[1] if isinstance(peer, tuple) and len(peer) > 1 else 0
    family = "TCP6" if ":" in ip else "TCP4"
    local = "::1" if family == "TCP6" else "127.0.0.1"
    # Línea PROXY v1: gunicorn toma de aquí REMOTE_ADDR (la IP real en el registro de accesos).
    lines = [f"PROXY {family} {ip} {local} {port} 0".encode() if ip != "-" else b"PROXY UNKNOWN"]
    lines.append(b" ".join((req.method, req.target, req.version)))
    forwarded = ip.encode()
    for name, value in req.headers:
        low = name.lower()
        if low in HOP_BY_HOP:
            continue
        if low == b"x-forwarded-for":
            forwarded = value + b", " + forwarded
            continue
        lines.append(name + b": " + value)
    lines.append(b"X-Forwarded-For: " + forwarded)
    if req.has_body:
        lines.append(b"Content-Length: %d" % len(req.body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + req.body


def _client_head(head: bytes, req: Request) -> tuple[bytes, bool]:
    """Ajusta las cabeceras de conexión de la respuesta; dice si la conexión puede seguir."""
    lines = head[:-4].split(b"\r\n")
    status_parts = lines[0].split(b" ", 2)
    status = int(status_parts[1]) if len(status_parts) > 1 and status_parts[1].isdigit() else 0
    kept = [line for line in lines[1:] if not line.lower().startswith(b"connection:")]
    names = {line.split(b":", 1)[0].strip().lower() for line in kept}
    framed = (
        b"content-length" in names
        or any(line.lower().replace(b" ", b"") == b"transfer-encoding:chunked" for line in kept)
        or req.method == b"HEAD"
        or status in (204, 304)
    )
    keep = req.keep_alive and framed
    if not keep:
        kept.append(b"Connection: close")
    status_line = b"HTTP/1.1 " + b" ".join(status_parts[1:])
    return b"\r\n".join([status_line, *kept]) + b"\r\n\r\n", keep
