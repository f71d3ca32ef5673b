"""Lo que un operador mira en /metrics (raspado del servidor real): tiempo hasta el primer token,
tokens de prompt y generados, y qué réplica responde."""

from __future__ import annotations

import re
import socket

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.server import PROMPT, ServerProcess
from tests.helpers.sse import read_sse


def _samples(server: ServerProcess) -> dict[str, float]:
    """Cada muestra de /metrics por su nombre (con etiquetas, si las tiene)."""
    out = {}
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


TTFT = "llm_time_to_first_token_seconds"


def test_first_token_and_token_counters(server: ServerProcess) -> None:
    before = _samples(server)
    assert server.post("/generate", {"prompt": PROMPT, "max_new_tokens": 10}).status_code == 200
    body = {"prompt": PROMPT, "max_tokens": 5, "n": 2, "stream": True}
    events = read_sse(server.post("/v1/completions", body, stream=True))
    assert events[-1] == ("message", "[DONE]")
    after = _samples(server)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    # Una observación por petición (las dos muestras de n=2 son la misma petición).
    assert delta(f"{TTFT}_count") == 2
    assert delta(f'{TTFT}_bucket{{le="+Inf"}}') == 2
    assert 0 < delta(f"{TTFT}_sum") < 60
    assert delta("llm_prompt_tokens_total") == len(PROMPT) * 3  # una lectura por generación
    assert delta("llm_generated_tokens_total") == 10 + 2 * 5
    assert delta("llm_generated_chars_total") == 10 + 2 * 5


def test_replica_identity_and_names(server: ServerProcess) -> None:
    text = server.get("/metrics").text
    master = re.search(r"\[(\d+)\] \[INFO\] arranca gunicorn", server.log())
    assert master, server.log()[:2000]
    host = socket.gethostname()
    assert f'llm_replica_info{{hostname="{host}",master_pid="{master.group(1)}"}} 1.0' in text, text
    # Convenciones de Prometheus: contadores en _total, tiempos en segundos.
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    assert types[TTFT] == "histogram"
    assert types["llm_prompt_tokens_total"] == types["llm_generated_tokens_total"] == "counter"
    assert types["llm_replica_info"] == "gauge"
    for name, kind in types.items():
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram" and ("time" in name or "duration" in name):
            assert name.endswith("_seconds"), name
