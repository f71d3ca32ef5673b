"""El frente de ``python -m server`` (server/front.py) con sockets reales: plazos, límites,
keep-alive, IP del cliente, clave no ASCII y señales (Ctrl+C, docker stop)."""

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

KEY = "clavé-ñ"
CLIENT_TIMEOUT = 2.0
OK = {"prompt": PROMPT, "max_new_tokens": 5, "seed": 1}


@pytest.fixture(scope="module")
def keyed(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-frente"),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="1",
        API_KEY=KEY,
        MAX_BODY_BYTES="4096",
        CLIENT_TIMEOUT=str(CLIENT_TIMEOUT),
    )
    with srv.start():
        srv.wait_for_log(r"modelo cargado")
        yield srv


def auth() -> dict[str, bytes]:
    return {"Authorization": b"Bearer " + KEY.encode()}  # bytes UTF-8 tal cual en el cable


def raw_exchange(srv: ServerProcess, data: bytes, wait: float = 10) -> tuple[bytes, float]:
    """Envía bytes crudos y lee hasta que el servidor cierra; devuelve (respuesta, segundos)."""
    port = int(srv.base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out, time.monotonic() - started


def test_incomplete_headers_get_408_json_within_the_deadline(keyed: ServerProcess) -> None:
    out, took = raw_exchange(keyed, b"GET /health HTTP/1.1\r\nHost: x\r\n")
    assert out.startswith(b"HTTP/1.1 408 "), out
    assert b'"type": "request_timeout"' in out
    assert CLIENT_TIMEOUT - 0.2 <= took <= CLIENT_TIMEOUT + 2


def test_incomplete_body_gets_408(keyed: ServerProcess) -> None:
    head = b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    out, _ = raw_exchange(keyed, head + b"Content-Length: 100\r\n\r\n{")
    assert out.startswith(b"HTTP/1.1 408 "), out


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
    head = b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n"
    out, took = raw_exchange(keyed, head)
    assert out.startswith(b"HTTP/1.1 413 ") and b"4096" in out, out
    assert took < CLIENT_TIMEOUT  # sin esperar a un cuerpo que nunca llega


def test_ambiguous_framing_is_refused(keyed: ServerProcess) -> None:
    head = b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    out, _ = raw_exchange(keyed, head + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and b"Transfer-Encoding no admitido" in out, out


def test_keep_alive_and_client_ip_in_the_access_log(keyed: ServerProcess) -> None:
    port = int(keyed.base_url.rsplit(":", 1)[1])
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


def gunicorn_pids(front_pid: int) -> list[int]:
    """Los procesos gunicorn cuyo padre es el frente (el maestro)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == front_pid:
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
def test_signals_stop_front_and_gunicorn(
    checkpoint_dir: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    srv = ServerProcess(tmp_path, CHECKPOINT_DIR=str(checkpoint_dir), WEB_CONCURRENCY="1")
    with srv.start():
        srv.wait_for_log(r"modelo cargado")
        assert srv.proc is not None
        (master,) = gunicorn_pids(srv.proc.pid)
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
        while alive(master) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(master), "gunicorn sigue vivo tras parar el frente"
