"""Con `docker compose up`, la clase ve bajar la pérdida y llegar los checkpoints nuevos.

El entrenador escribe ``<run>.metrics.jsonl`` y ``<run>.pt`` en el volumen compartido
(``/checkpoints/gpt``); el servidor, que lo monta de solo lectura, sirve esos puntos en
``GET /v1/models/<id>/metrics`` mientras el entrenador sigue escribiendo (lo que dibuja la curva del
playground) y cada checkpoint nuevo en ``GET /v1/models``. Después, ``MODEL=bigram docker compose
run trainer`` deja el bigrama en ``/checkpoints/bigram`` y el servidor, sin reiniciarse, lo lista
junto al GPT para compararlos.

Necesita un motor de contenedores; `make test-docker` las ejecuta (marcador ``docker``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.dockerlib import TINY_TRAINING, Project, http, poll

pytestmark = pytest.mark.docker

RUN = "en-vivo"  # RUN_NAME fijo: el id del modelo en GET /v1/models
# MAX_STEPS=600 con una evaluación (y un checkpoint) cada 20 pasos: 30 puntos en la curva. Con el
# GPT diminuto de TINY_TRAINING son de 5 a 30 s de entrenamiento según la carga de la máquina:
# los bastantes para ver crecer la curva sondeando cada 0,3 s, y pocos para no alargar la prueba.
MAX_STEPS = 600
EVAL_INTERVAL = 20
LIVE = {
    **TINY_TRAINING,
    "MAX_STEPS": str(MAX_STEPS),
    "TRAIN_ARGS": f"--eval-interval {EVAL_INTERVAL} --eval-iters 2",
    "RUN_NAME": RUN,
    "RELOAD_INTERVAL": "1",  # el servidor pasa a cada checkpoint nuevo en un segundo
    "WEB_CONCURRENCY": "1",  # una petición a la vez: un worker deja CPU al entrenador
}


@pytest.fixture(scope="module")
def live() -> Iterator[Project]:
    """El servidor primero (y esperando, sin checkpoints), después el entrenador: así la prueba
    no depende de que el servidor arranque antes de que acabe un entrenamiento tan corto. En
    clase da igual el orden: el entrenamiento de verdad dura minutos."""
    project = Project(settings=LIVE)
    try:
        project.up("server", "proxy")  # nginx publica el puerto
        assert poll(lambda: http("GET", f"{project.url}/health")[0] == 200, 300), "sin /health"
        code, body = http("GET", f"{project.url}/v1/models")
        assert code == 200 and body["data"] == [], body  # aún no hay ningún checkpoint
        project.up("trainer")
        yield project
    finally:
        project.down()


def sample(url: str) -> dict[str, Any] | None:
    """Lo que ve el playground en una vuelta: el modelo en la lista y los puntos de su curva."""
    code, models = http("GET", f"{url}/v1/models", timeout=10)
    if code != 200:
        return None
    entry = next((m for m in models["data"] if m["id"] == RUN), None)
    if entry is None:
        return None
    code, metrics = http("GET", f"{url}/v1/models/{RUN}/metrics", timeout=10)
    assert code == 200, metrics
    points = metrics["points"]
    return {
        "step": entry["step"],
        "default": entry["default"],
        "evals": [p for p in points if isinstance(p.get("val_loss"), float)],
        "final": any(p.get("final") for p in points),
    }


def test_the_loss_curve_and_the_model_list_grow_while_the_trainer_writes(live: Project) -> None:
    seen: list[dict[str, Any]] = []

    def watch() -> dict[str, Any] | None:
        now = sample(live.url)
        if now is not None:
            seen.append(now)
        return now

    # Hasta que el último checkpoint está en la lista, y la última línea (la final) en la curva.
    finished = poll(lambda: (watch() or {}).get("step") == MAX_STEPS, 300, interval=0.3)
    assert finished, f"el checkpoint final no llegó a la lista: {seen[-3:]}"
    assert poll(lambda: (watch() or {}).get("final"), 30), f"sin línea final: {seen[-1:]}"
    counts = [len(s["evals"]) for s in seen]
    steps = [s["step"] for s in seen]
    summary = f"puntos vistos: {counts}; pasos del checkpoint: {steps}"
    print(summary)
    # La curva crece mientras el entrenador escribe (nunca encoge) y acaba con todos los puntos.
    assert counts == sorted(counts), summary
    assert counts[-1] == MAX_STEPS // EVAL_INTERVAL, summary
    assert len(set(counts[:-1])) >= 3, f"la curva no se vio crecer: {summary}"
    # Cada checkpoint nuevo llega a la lista con su paso (el mismo fichero del run, reescrito).
    assert steps == sorted(steps) and len(set(steps)) >= 3, summary
    evals = seen[-1]["evals"]
    assert [p["step"] for p in evals] == list(range(EVAL_INTERVAL, MAX_STEPS + 1, EVAL_INTERVAL))
    assert evals[-1]["val_loss"] < evals[0]["val_loss"] - 0.5, evals  # la pérdida baja
    # Y el servidor genera ya con el último checkpoint (recarga en caliente).
    assert poll(
        lambda: (
            http("POST", f"{live.url}/generate", {"prompt": "Hola", "max_new_tokens": 5})[1]
            .get("model", {})
            .get("step")
            == MAX_STEPS
        ),
        60,
    ), "el servidor no pasó al último checkpoint"
    final = sample(live.url)
    assert final and final["default"] and final["step"] == MAX_STEPS, final


def test_a_bigram_trained_later_is_listed_beside_the_gpt(live: Project) -> None:
    # MODEL=bigram docker compose run trainer: el mismo proyecto, la carpeta del bigrama.
    bigram = Project(
        name=live.name,
        port=live.port,
        settings={**LIVE, "MODEL": "bigram", "MAX_STEPS": "40", "RUN_NAME": "bigrama",
                  "TRAIN_ARGS": "--eval-interval 20 --eval-iters 2"},
    )  # fmt: skip
    bigram.compose("run", "--rm", "--no-deps", "-T", "trainer", timeout=600)

    def listed() -> dict[str, Any] | None:
        code, body = http("GET", f"{live.url}/v1/models")
        models = {m["id"]: m for m in body["data"]} if code == 200 else {}
        return models if "bigram:bigrama" in models else None

    models = poll(listed, 60, interval=0.5)
    assert models, "el bigrama de /checkpoints/bigram no aparece en /v1/models"
    assert models["bigram:bigrama"]["type"] == "bigram" and models["bigram:bigrama"]["step"] == 40
    assert models[RUN]["default"] and models[RUN]["type"] == "gpt"  # se sigue sirviendo el GPT
    body = {"prompt": "Hola", "max_new_tokens": 20, "seed": 1}
    texts = {}
    for model_id, model_type in (("bigram:bigrama", "bigram"), (RUN, "gpt")):
        code, out = http("POST", f"{live.url}/generate", {**body, "model": model_id})
        assert code == 200 and out["model"]["type"] == model_type, out
        texts[model_id] = out["text"]
    assert texts["bigram:bigrama"] != texts[RUN]
    code, metrics = http("GET", f"{live.url}/v1/models/bigram:bigrama/metrics")
    assert code == 200 and [p["step"] for p in metrics["points"] if "val_loss" in p] == [20, 40]
