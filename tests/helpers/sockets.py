"""Bytes crudos por un socket de loopback: lo que ``requests`` no deja enviar (trozos mal
escritos, HTTP/1.0, medio cierres)."""

from __future__ import annotations

import socket


def exchange(port: int, data: bytes, half_close: bool = False, wait: float = 10) -> bytes:
    """Envía ``data`` a 127.0.0.1:``port`` y lee hasta que el otro lado cierra.

    ``half_close``: cerrar nuestro lado de escritura tras enviar (un cliente que ya no enviará
    nada más). ``wait``: plazo de cada operación del socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out
