"""``python -m server`` (gunicorn directamente, sin nada delante) con sockets reales: límites del
cuerpo (también en trozos), keep-alive, IP del cliente, clave no ASCII y señales (Ctrl+C,
docker stop). Los plazos de los clientes lentos son cosa de nginx: tests/docker/test_proxy.py."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers.server import PROMPT, ServerProcess, assert_error
from tests.helpers.sockets import exchange

KEY = "clavé-ñ"
OK = {"prompt": PROMPT, "max_new_tokens": 5, "seed": 1}


@pytest.fixture(scope="module")
def keyed(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-cable"),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="1",
        API_KEY=KEY,
        MAX_BODY_BYTES="4096",
    )
    with srv.start():
        srv.wait_for_log(r"modelo cargado")
        yield srv


def auth() -> dict[str, bytes]:
    return {"Authorization": b"Bearer " + KEY.encode()}  # bytes UTF-8 tal cual en el cable


def test_chunked_bodies_are_reassembled_and_limited(keyed: ServerProcess) -> None:
    def chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
        yield from (body[i : i + size] for i in range(0, len(body), size))

    ok = b'{"prompt": "Hola", "max_new_tokens": 3, "seed": 1}'
    resp = requests.post(keyed.url("/generate"), data=chunks(ok, 7), timeout=30,
                         headers={"Content-Type": "application/json", **auth()})  # fmt: skip
    assert resp.status_code == 200, resp.text
    big = ok[:-1] + b"," + b" " * 5000 + b'"x": 1}'
    resp = requests.post(keyed.url("/generate"), data=chunks(big), timeout=30,
                         headers={"Content-Type": "application/json", **auth()})  # fmt: skip
    assert_error(resp, 413, "payload_too_large")


def test_content_length_over_the_limit_is_413_before_the_body(keyed: ServerProcess) -> None:
    key = b"Authorization: Bearer " + KEY.encode() + b"\r\n"  # sin clave, 401 antes que nada
    head = (
        b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + key
        + b"Content-Length: 999999\r\n\r\n"
    )
    port = keyed.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(5)  # la respuesta llega sin esperar a un cuerpo que nunca se envía
        out = b""
        while b"payload_too_large" not in out and (chunk := sock.recv(65536)):
            out += chunk
    assert out.startswith(b"HTTP/1.1 413 ") and b"4096" in out, out


def test_ambiguous_framing_is_refused(keyed: ServerProcess) -> None:
    head = b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    out = exchange(keyed.port, head + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out  # lo rechaza el analizador de gunicorn


def test_keep_alive_and_client_ip_in_the_access_log(keyed: ServerProcess) -> None:
    port = keyed.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/health", headers={"User-Agent": "sonda-keepalive"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
    first_sock = conn.sock
    conn.request("GET", "/ready")
    conn.getresponse().read()
    assert conn.sock is first_sock  # la misma conexión TCP para las cuatro
    conn.close()
    line = r'127\.0\.0\.1 - - \[[^]]+\] "GET /health HTTP/1\.1" 200 .*sonda-keepalive'
    keyed.wait_for_log(line, 3)


def test_streaming_still_arrives_chunk_by_chunk(keyed: ServerProcess) -> None:
    body = {**OK, "max_new_tokens": 200, "stream": True}
    with requests.post(keyed.url("/generate"), json=body, headers=auth(), stream=True,
                       timeout=30) as resp:  # fmt: skip
        assert resp.status_code == 200
        arrivals = [time.monotonic() for _ in resp.iter_lines() if _]
    assert len(arrivals) > 100
    assert arrivals[-1] - arrivals[0] > 0.01  # llegaron a lo largo del tiempo, no de golpe


def test_non_ascii_api_key_over_the_wire(keyed: ServerProcess) -> None:
    ok = requests.post(keyed.url("/generate"), json=OK, headers=auth(), timeout=30)
    assert ok.status_code == 200, ok.text
    bad = requests.post(keyed.url("/generate"), json=OK, timeout=30,
                        headers={"Authorization": "Bearer clave-n"})  # fmt: skip
    assert_error(bad, 401, "unauthorized")


def test_utf8_bom_body_over_the_wire(keyed: ServerProcess) -> None:
    raw = b"\xef\xbb\xbf" + b'{"prompt": "Hola", "max_new_tokens": 3, "seed": 1}'
    resp = requests.post(keyed.url("/generate"), data=raw, timeout=30,
                         headers={"Content-Type": "application/json", **auth()})  # fmt: skip
    assert resp.status_code == 200, resp.text


def test_unknown_methods_do_not_grow_metrics(keyed: ServerProcess) -> None:
    for i in range(20):
        requests.request(f"RARO{i}", keyed.url("/health"), timeout=30)
    text = keyed.get("/metrics").text
    assert "RARO" not in text and 'method="other"' in text


def children(pid: int) -> list[int]:
    """Los procesos hijos de ``pid`` (los workers de gunicorn)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_signals_stop_gunicorn_and_its_workers(
    checkpoint_dir: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    srv = ServerProcess(tmp_path, CHECKPOINT_DIR=str(checkpoint_dir), WEB_CONCURRENCY="1")
    with srv.start():
        srv.wait_for_log(r"modelo cargado")
        assert srv.proc is not None
        # python -m server se convierte en gunicorn (execv): el mismo PID es el maestro.
        (worker,) = children(srv.proc.pid)
        body = {**OK, "max_new_tokens": 300, "stream": True}
        with requests.post(srv.url("/generate"), json=body, stream=True, timeout=30) as resp:
            lines = resp.iter_lines()
            next(lines)  # la generación ya está en marcha
            srv.proc.send_signal(signum)
            if signum == signal.SIGTERM:  # parada ordenada: la respuesta en curso termina
                rest = [line for line in lines if line]
                assert rest[-1].startswith(b"data: ") and b'"text"' in rest[-1], rest[-3:]
        code = srv.proc.wait(timeout=40)
        if signum != signal.SIGKILL:
            assert code == 0 or signum == signal.SIGINT, srv.log()
        deadline = time.monotonic() + 20
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Con SIGKILL al maestro, el worker se da cuenta (su padre cambia) y sale solo.
        assert not alive(worker), "el worker de gunicorn sigue vivo tras parar el maestro"
