"""nginx delante de tres réplicas del servidor (`docker compose up --scale server=3`), con
sockets reales y los ataques que rompían el frente escrito a mano: clientes que no leen,
medio cierres, SCRIPT_NAME y X-Forwarded-* del cliente, tamaños de trozo raros, y una réplica
que muere."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from bench.class_load import USER_AGENT, run_class
from tests.helpers.dockerlib import TINY_TRAINING, Project, docker, generate_until_ok, http, poll
from tests.helpers.sockets import exchange

pytestmark = pytest.mark.docker

REPLICAS = 3
# Corto para que la prueba dure poco; el valor por defecto (10 s) lo usa test_user_path.py.
CLIENT_TIMEOUT = 4.0
MAX_BODY = 4096  # pequeño para pasarse con pocos bytes
MARGIN = 4.0  # el reenvío de puertos del motor y una máquina cargada
KEEPALIVE = 5.0  # keepalive_timeout de docker/nginx.conf


@pytest.fixture(scope="module")
def stack() -> Iterator[Project]:
    # WEB_CONCURRENCY=1: tres réplicas de un worker caben en 2 núcleos (cada una, su PyTorch).
    settings = {**TINY_TRAINING, "WEB_CONCURRENCY": "1", "RELOAD_INTERVAL": "1",
                "CLIENT_TIMEOUT": str(CLIENT_TIMEOUT), "MAX_BODY_BYTES": str(MAX_BODY)}  # fmt: skip
    project = Project(settings=settings)
    try:
        project.compose("build", timeout=1800)
        project.compose("up", "-d", "--no-build", "--scale", f"server={REPLICAS}", timeout=300)
        generate_until_ok(project.url, seconds=300)
        yield project
    finally:
        project.down()


def replicas(stack: Project) -> list[str]:
    out = stack.compose("ps", "-a", "--format", "json", "server").stdout
    return sorted(json.loads(line)["Name"] for line in out.splitlines() if line.strip())


def served_by(stack: Project, marker: str) -> set[str]:
    """Las réplicas en cuyo registro de accesos aparece ``marker`` (el User-Agent de la prueba)."""
    logs = stack.compose("logs", "--no-color", "server").stdout
    return {line.split("|", 1)[0].strip() for line in logs.splitlines() if marker in line}


def raw(stack: Project, data: bytes, half_close: bool = False) -> bytes:
    return exchange(stack.port, data, half_close, wait=20)


def test_one_port_three_replicas_each_serving(stack: Project) -> None:
    assert len(replicas(stack)) == REPLICAS

    # Cada réplica carga el checkpoint del volumen compartido y está sana (/ready) por su cuenta.
    def all_healthy() -> bool:
        states = [docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
                  for name in replicas(stack)]  # fmt: skip
        return states == ["healthy"] * REPLICAS

    assert poll(all_healthy, 300, interval=3)
    for i in range(30):
        resp = requests.get(f"{stack.url}/info", headers={"User-Agent": f"sonda-reparto-{i}"},
                            timeout=10)  # fmt: skip
        assert resp.status_code == 200
    assert len(served_by(stack, "sonda-reparto-")) == REPLICAS


def test_a_class_of_30_streams_at_once_over_three_replicas(stack: Project) -> None:
    # 30 clientes a la vez en streaming, repartidos por nginx entre las tres réplicas: todos
    # reciben sus 300 caracteres (ni 429, ni cortes), y las tres réplicas generaron.
    row = run_class(stack.url, 30, 300)
    print(row)
    assert row["errors"] == 0, row
    assert len(served_by(stack, USER_AGENT)) == REPLICAS


def test_every_replica_serves_the_last_checkpoint(stack: Project) -> None:
    # El entrenador termina en el paso 40 (TINY_TRAINING); cada réplica recarga por su cuenta.
    def all_at_the_end() -> bool:
        steps = set()
        for _ in range(3 * REPLICAS):
            code, body = http("POST", f"{stack.url}/generate", {"prompt": "a", "max_new_tokens": 1})
            steps.add(body["model"]["step"] if code == 200 else None)
        return steps == {40}

    assert poll(all_at_the_end, 300, interval=2)


def test_client_address_is_logged_and_forged_headers_never_arrive(stack: Project) -> None:
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "malo.example", "SCRIPT_NAME": "/x",
              "User-Agent": "sonda-cabeceras"}  # fmt: skip
    resp = requests.get(f"{stack.url}/v1/models", headers=forged, timeout=10)
    assert resp.status_code == 200 and resp.json()["data"], resp.text
    # Con SCRIPT_NAME aceptado, /x/v1/models se serviría como /v1/models.
    resp = requests.get(f"{stack.url}/x/v1/models", headers=forged, timeout=10)
    assert resp.status_code == 404, resp.text
    logs = stack.compose("logs", "--no-color", "server").stdout
    lines = [line for line in logs.splitlines() if "sonda-cabeceras" in line]
    assert lines and not any("203.0.113.9" in line for line in lines), lines
    proxy = stack.compose("ps", "-q", "proxy").stdout.strip()
    proxy_ip = docker(
        "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", proxy
    ).stdout
    address = re.search(r"\|\s+(\S+) - ", lines[0])
    assert address and address.group(1) != proxy_ip.strip(), lines[0]  # la del cliente


@pytest.mark.parametrize("size", [b"0x22", b"2_2", b"+22", b"-1"])
def test_odd_chunk_sizes_are_refused(stack: Project, size: bytes) -> None:
    head = (b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")  # fmt: skip
    out = raw(stack, head + size + b"\r\n" + b"x" * 34 + b"\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out[:200]


def test_chunked_body_over_the_limit_gets_the_json_413(stack: Project) -> None:
    body = b'{"prompt": "' + b"a" * (2 * MAX_BODY) + b'"}'
    chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))
    resp = requests.post(f"{stack.url}/generate", data=chunks, timeout=30,
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["type"] == "payload_too_large"
    assert str(MAX_BODY) in resp.json()["error"]["message"]


def test_half_close_gets_the_whole_response_or_none(stack: Project) -> None:
    # nginx toma el cierre de la escritura como que el cliente se ha ido y no sigue con la
    # petición (así una generación no sigue para nadie); si la respuesta ya estaba, la entrega
    # entera. Lo que no puede pasar (pasaba con el frente): cabeceras con el cuerpo cortado.
    outs = [raw(stack, b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n", half_close=True)
            for _ in range(10)]  # fmt: skip
    assert all(out == b"" or out.startswith(b"HTTP/1.1 200") for out in outs), outs
    whole = [out for out in outs if out]
    for out in whole:
        head, _, body = out.partition(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)
        assert length and len(body) == int(length.group(1)) and json.loads(body), out[:300]
    # Sin medio cierre, la misma petición responde siempre entera.
    out = raw(stack, b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    length = re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)
    assert head.startswith(b"HTTP/1.1 200") and length, out[:300]
    assert len(body) == int(length.group(1)) and json.loads(body)


def test_streaming_passes_through_unbuffered(stack: Project) -> None:
    body = {"prompt": "Hola", "max_new_tokens": 200, "stream": True, "seed": 1}
    with requests.post(f"{stack.url}/generate", json=body, stream=True, timeout=60) as resp:
        assert resp.status_code == 200
        arrivals = [time.monotonic() for line in resp.iter_lines() if line]
    assert len(arrivals) > 100
    assert arrivals[-1] - arrivals[0] > 0.01  # a lo largo del tiempo, no de golpe al final


def test_clients_that_never_read_are_dropped_and_do_not_starve(stack: Project) -> None:
    request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
    socks = []
    for _ in range(40):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # una ventana diminuta
        sock.connect(("127.0.0.1", stack.port))
        sock.sendall(request * 3)  # tres respuestas en cola que nunca se leen
        socks.append(sock)
    opened = time.monotonic()
    answered = sum(
        http("GET", f"{stack.url}/health", timeout=5)[0] == 200 for _ in range(40)
    )  # fmt: skip
    assert answered >= 39
    # nginx deja de esperar a un cliente que no lee en CLIENT_TIMEOUT s (send_timeout) y, si
    # todo cupo en los búferes del núcleo, lo cierra tras los 5 s de keep-alive sin petición.
    time.sleep(max(0.0, opened + KEEPALIVE + CLIENT_TIMEOUT + MARGIN - time.monotonic()))
    still_open = 0
    for sock in socks:
        sock.settimeout(2)
        try:
            while sock.recv(1 << 20):
                pass  # lo que ya estaba en el búfer; al final, fin de conexión
        except TimeoutError:
            still_open += 1  # nada más llega, pero no se ha cerrado
        except OSError:
            pass  # cerrada con RST
        sock.close()
    assert still_open == 0


def test_a_dead_replica_is_routed_around_and_restarted(stack: Project) -> None:
    victim = replicas(stack)[0]
    pid = docker("inspect", "--format", "{{.State.Pid}}", victim).stdout.strip()
    # Una caída de verdad (como la del OOM killer), no `docker kill`/`stop`, que el motor
    # trata como una parada pedida y no reinicia.
    subprocess.run(["kill", "-9", pid], check=True)
    codes = [http("GET", f"{stack.url}/info", timeout=10)[0] for _ in range(20)]
    assert codes == [200] * 20, codes

    def restarted() -> bool:
        out = docker("inspect", "--format", "{{.RestartCount}} {{.State.Status}}", victim).stdout
        count, status = out.split()
        return int(count) >= 1 and status == "running"

    assert poll(restarted, 120, interval=2)
