"""La configuración de nginx sale de los ajustes del servidor (server/proxy_conf.py), y
``python -m server`` fuera de loopback dice que para una clase está ``docker compose up``."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.proxy_conf import render
from server.settings import Settings
from shared.common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "docker" / "nginx.conf").read_text(encoding="utf-8")
RESOLV = "# del motor\nsearch dns.podman\nnameserver 10.89.0.1\n"


def test_defaults_come_from_the_server_settings() -> None:
    conf = render(TEMPLATE, {}, RESOLV)
    defaults = Settings()
    assert f"client_max_body_size {defaults.max_body_bytes};" in conf
    assert f"client_header_timeout {int(defaults.client_timeout)}s;" in conf
    assert f"proxy_read_timeout {defaults.timeout}s;" in conf
    assert "resolver 10.89.0.1 valid=5s" in conf and "set $upstream server:8000;" in conf
    assert "{{" not in conf


def test_settings_and_error_bodies_reach_nginx() -> None:
    env = {"CLIENT_TIMEOUT": "2.5", "MAX_BODY_BYTES": "4096", "UPSTREAM": "servidor:9000"}
    conf = render(TEMPLATE, env, "nameserver fd00::1\n")
    assert "client_body_timeout 3s;" in conf and "send_timeout 3s;" in conf
    assert "client_max_body_size 4096;" in conf
    assert "resolver [fd00::1]" in conf and "set $upstream servidor:9000;" in conf
    body = re.search(r"return 413 '(.*)';", conf)
    assert body, conf
    error = json.loads(body.group(1).replace("\\'", "'"))["error"]
    assert error["type"] == "payload_too_large" and "4096" in error["message"]


@pytest.mark.parametrize(
    ("env", "resolv", "message"),
    [
        ({"MAX_BODY_BYTES": "mucho"}, RESOLV, "MAX_BODY_BYTES"),
        ({"UPSTREAM": "server:8000; return 200"}, RESOLV, "UPSTREAM"),
        ({}, "search local\n", "nameserver"),
    ],
)
def test_bad_values_are_spanish_errors(env: dict[str, str], resolv: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render(TEMPLATE, env, resolv)


def test_listening_outside_loopback_points_to_compose(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LLM_BEHIND_PROXY",)}
    # HOST=0.0.0.0 es lo que se prueba; PORT=0, uno libre; sin checkpoints: arranca sin modelo.
    env.update(HOST="0.0.0.0", PORT="0", CHECKPOINT_DIR=str(tmp_path), WEB_CONCURRENCY="1")
    # cwd fuera del repositorio (ningún .env), y el código de este repositorio primero.
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "server"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert proc.stdout is not None
    out = b""
    try:
        deadline = time.monotonic() + 60
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"docker compose up" not in out and time.monotonic() < deadline:
                if sel.select(timeout=1):
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    text = out.decode(errors="replace")
    advice = [line for line in text.splitlines() if "docker compose up" in line]
    assert len(advice) == 1 and "0.0.0.0" in advice[0], text
