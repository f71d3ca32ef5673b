"""Lectura de peticiones HTTP/1.1 con plazo y tamaño máximos, para el frente (server/front.py).

El frente lee cada petición entera (cabeceras y cuerpo) antes de pasársela a gunicorn. Aquí está
esa lectura: un búfer por conexión, un plazo absoluto para toda la petición y los límites de
tamaño. Cualquier fallo es un ``FrontError`` con el estado HTTP y el mensaje en español que el
frente devuelve al cliente (con la misma forma JSON que el resto del servidor).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 65536  # línea de petición + cabeceras
MAX_LINE_BYTES = 8190  # como limit_request_line de gunicorn
MAX_HEADERS = 100
READ_SIZE = 65536

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
VERSION = re.compile(rb"^HTTP/1\.[01]$")
# Cabeceras «de salto» (hop-by-hop): valen para una conexión, no se reenvían a gunicorn.
HOP_BY_HOP = {
    b"connection", b"keep-alive", b"te", b"transfer-encoding", b"content-length", b"expect",
    b"proxy-connection", b"upgrade", b"trailer",
}  # fmt: skip


class FrontError(Exception):
    """Petición que el frente rechaza él mismo. ``close``: la conexión no puede reutilizarse."""

    def __init__(self, status: int, message: str, close: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


class ClientGone(Exception):
    """El cliente cerró la conexión (o no envió nada a tiempo): se cierra sin responder."""


@dataclass
class Request:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    has_body: bool = False  # traía Content-Length o Transfer-Encoding
    keep_alive: bool = True

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass
class Conn:
    """El búfer de lectura de una conexión con el cliente."""

    reader: asyncio.StreamReader
    buf: bytearray = field(default_factory=bytearray)

    async def fill(self, deadline: float, received_any: bool = True) -> None:
        """Lee más bytes antes de ``deadline`` (reloj del bucle); si no llegan, error."""
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(self.reader.read(READ_SIZE), remaining)
        except TimeoutError:
            if not received_any:
                raise ClientGone from None  # conexión ociosa: se cierra sin más
            raise FrontError(408, "la petición no llegó completa a tiempo.") from None
        except ConnectionError:
            raise ClientGone from None
        if not chunk:
            raise ClientGone
        self.buf += chunk

    async def take_until(self, sep: bytes, limit: int, deadline: float, status: int) -> bytes:
        """Devuelve los bytes hasta ``sep`` (incluido); ``status`` si pasan de ``limit``."""
        while True:
            end = self.buf.find(sep)
            if end >= 0:
                out = bytes(self.buf[: end + len(sep)])
                del self.buf[: end + len(sep)]
                return out
            if len(self.buf) > limit:
                raise FrontError(status, "las cabeceras de la petición son demasiado grandes.")
            await self.fill(deadline)

    async def take(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            await self.fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


async def read_head(conn: Conn, deadline: float, idle_deadline: float) -> Request:
    """Línea de petición y cabeceras. Hasta el primer byte vale ``idle_deadline``."""
    if not conn.buf:
        await conn.fill(min(deadline, idle_deadline), received_any=False)
    while conn.buf.startswith(b"\r\n"):  # se toleran líneas vacías entre peticiones
        del conn.buf[:2]
        if not conn.buf:
            await conn.fill(deadline)
    raw = await conn.take_until(b"\r\n\r\n", MAX_HEAD_BYTES, deadline, 431)
    lines = raw[:-4].split(b"\r\n")
    if len(lines[0]) > MAX_LINE_BYTES:
        raise FrontError(414, "la URL de la petición es demasiado larga.")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not TOKEN.match(parts[0]) or not parts[1]:
        raise FrontError(400, "la línea de petición HTTP está mal formada.")
    method, target, version = parts
    if not VERSION.match(version):
        raise FrontError(505, "solo se admite HTTP/1.0 y HTTP/1.1.")
    if len(lines) - 1 > MAX_HEADERS:
        raise FrontError(431, f"la petición trae más de {MAX_HEADERS} cabeceras.")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        # Sin espacio antes de ':' ni líneas plegadas: así nadie cuela una cabecera ambigua.
        if not sep or not TOKEN.match(name):
            raise FrontError(400, "hay una cabecera HTTP mal formada.")
        headers.append((name, value.strip(b" \t")))
    req = Request(method, target, version, headers)
    connection = (req.header(b"connection") or b"").lower()
    req.keep_alive = version == b"HTTP/1.1" and b"close" not in connection
    return req


def body_framing(req: Request, max_body: int) -> int | None:
    """Cuántos bytes de cuerpo esperar: un número, o ``None`` si llega troceado (chunked)."""
    lengths = {v for k, v in req.headers if k.lower() == b"content-length"}
    encodings = [v.lower() for k, v in req.headers if k.lower() == b"transfer-encoding"]
    if encodings:
        if lengths or encodings != [b"chunked"] or req.version != b"HTTP/1.1":
            raise FrontError(
                400, "Transfer-Encoding no admitido: solo 'chunked', y sin Content-Length."
            )
        req.has_body = True
        return None
    if not lengths:
        return 0
    if len(lengths) > 1 or not next(iter(lengths)).isdigit():
        raise FrontError(400, "la cabecera Content-Length no es válida.")
    req.has_body = True
    size = int(next(iter(lengths)))
    if size > max_body:
        raise FrontError(413, f"el cuerpo de la petición supera el máximo de {max_body} bytes.")
    return size


async def read_chunked(conn: Conn, max_body: int, deadline: float) -> bytes:
    """Junta un cuerpo troceado; pasar de ``max_body`` es un 413 (nunca se recorta)."""
    body = bytearray()
    while True:
        line = await conn.take_until(b"\r\n", MAX_LINE_BYTES, deadline, 400)
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            if not size_text or len(size_text) > 16:
                raise ValueError
            size = int(size_text, 16)
        except ValueError:
            raise FrontError(400, "el cuerpo troceado (chunked) está mal formado.") from None
        if size == 0:
            break
        if len(body) + size > max_body:
            raise FrontError(413, f"el cuerpo de la petición supera el máximo de {max_body} bytes.")
        body += await conn.take(size, deadline)
        if await conn.take(2, deadline) != b"\r\n":
            raise FrontError(400, "el cuerpo troceado (chunked) está mal formado.")
    while await conn.take_until(b"\r\n", MAX_LINE_BYTES, deadline, 400) != b"\r\n":
        pass  # trailers: se leen y se descartan
    return bytes(body)
