"""Ciclo de vida del modelo en el servidor real: arrancar sin checkpoint, cargar el primero que
escribe el entrenador, recargar en caliente bajo carga, y saltarse checkpoints corruptos o
maliciosos sin dejar de servir."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import torch

from shared.checkpoints.files import FORMAT_NAME, Checkpoint, load_checkpoint, save_checkpoint
from shared.checkpoints.shapes import weight_shapes
from shared.config import GPTConfig
from tests.helpers.bad_checkpoints import BAD_CHECKPOINTS, write_bad_checkpoints
from tests.helpers.checkpoints import train_tiny
from tests.helpers.cli import ROOT
from tests.helpers.server import PROMPT, ServerProcess, assert_error, python_env
from tests.helpers.sse import iter_sse, read_sse

WORKERS = 2
# test_2: clientes que generan sin parar mientras cambia el checkpoint, más una generación larga
# que empezó antes del cambio. gunicorn no reparte las conexiones por igual: en una máquina
# cargada un worker puede tardar en aceptar y el otro se las lleva todas. Por eso cada worker
# tiene plaza para todas a la vez (una plaza se libera antes de que el cliente vea el final de
# su respuesta, así que nunca hay más de CLIENTS + 1 ocupadas) y un 429 es un fallo de verdad.
CLIENTS = 8


def start_server(workdir: Path, ckdir: Path) -> ServerProcess:
    return ServerProcess(
        workdir,
        CHECKPOINT_DIR=str(ckdir),
        WEB_CONCURRENCY=str(WORKERS),
        GUNICORN_THREADS=str(CLIENTS + 4),  # y hilos libres para /info y /health
        MAX_CONCURRENT_GENERATIONS=str(CLIENTS + 1),
        MAX_NEW_TOKENS="5000",
        RELOAD_INTERVAL="0.3",
    ).start()


@pytest.fixture(scope="module")
def reload_server(
    tmp_path_factory: pytest.TempPathFactory, checkpoint: Path
) -> Iterator[tuple[ServerProcess, Path]]:
    """El servidor de las pruebas 2 a 5, que empieza sirviendo el tiny.pt de la sesión."""
    ckdir = tmp_path_factory.mktemp("ckpt-recarga")
    shutil.copy2(checkpoint, ckdir / "tiny.pt")
    with start_server(tmp_path_factory.mktemp("servidor-recarga"), ckdir) as srv:
        # Los dos workers con el modelo cargado antes de empezar: /ready responde en cuanto uno
        # lo tiene, y si el otro tardaba en arrancar cargaba directamente el paso 1000 de
        # test_2 («modelo cargado», no «recargado») y la prueba fallaba sin que nada estuviera mal.
        srv.wait_for_log(r"modelo cargado: 'tiny\.pt'", count=WORKERS)
        yield srv, ckdir


@pytest.fixture
def lifecycle(
    reload_server: tuple[ServerProcess, Path], checkpoint: Path
) -> tuple[ServerProcess, Path]:
    """Cada prueba parte del mismo estado, haya corrido antes otra o no: en la carpeta solo el
    tiny.pt de la sesión (paso 40), recién llegado, y los dos workers sirviéndolo."""
    srv, ckdir = reload_server
    _write_atomically(ckdir / "tiny.pt", checkpoint.read_bytes())  # el más nuevo en llegar
    for path in ckdir.iterdir():
        if path.name != "tiny.pt":
            path.unlink()
    srv.wait_until(lambda: steps_seen(srv) == {40}, what="los dos workers sirven el paso 40")
    return srv, ckdir


def steps_seen(srv: ServerProcess, n: int = 12) -> set[int | None]:
    """Pasos que informan los workers (varias peticiones para pasar por los dos)."""
    seen = set()
    for _ in range(n):
        model = srv.get("/info").json()["model"]
        seen.add(model["step"] if model else None)
    return seen


def test_1_waits_without_checkpoint_then_serves_what_the_trainer_writes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ckdir = tmp_path_factory.mktemp("ckpt-vacio")
    with start_server(tmp_path_factory.mktemp("servidor-vacio"), ckdir) as srv:
        assert srv.get("/health").status_code == 200
        err = assert_error(srv.get("/ready"), 503, "model_not_ready")
        assert "todavía no hay ningún modelo" in err["message"]
        assert_error(srv.post("/generate", {"prompt": PROMPT}), 503, "model_not_ready")
        assert_error(srv.post("/v1/completions", {"prompt": PROMPT}), 503, "model_not_ready")
        info = srv.get("/info").json()
        assert info["ready"] is False and info["model"] is None
        srv.wait_for_log("todavía no hay ningún checkpoint válido")

        train_tiny(ckdir)  # el entrenador real escribe tiny.pt (pasos 20 y 40) en el directorio
        srv.wait_until(lambda: steps_seen(srv) == {40}, what="los dos workers sirven el paso 40")
        assert srv.get("/ready").status_code == 200
        assert srv.post("/generate", {"prompt": PROMPT, "max_new_tokens": 5}).status_code == 200
        # La línea del registro, con los números a la española (coma decimal).
        assert re.search(r"val_loss \d+,\d{4}, [\d\u00a0]+ parámetros\)", srv.log()), srv.log()


def test_2_hot_reload_under_load(lifecycle: tuple[ServerProcess, Path]) -> None:
    srv, ckdir = lifecycle
    failures: list[str] = []
    served_steps: set[int] = set()
    counts = [0] * CLIENTS
    stop = threading.Event()
    lock = threading.Lock()

    def client(i: int) -> None:
        body = {"prompt": PROMPT, "max_new_tokens": 60, "seed": i, "stream": i % 2 == 1}
        deadline = time.monotonic() + 60
        for _ in range(300):  # acotado en número y en tiempo
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                resp = srv.post("/generate", body, stream=body["stream"])
                if resp.status_code != 200:
                    raise AssertionError(f"{resp.status_code}: {resp.text}")
                if body["stream"]:
                    events = read_sse(resp)
                    assert events[-1][0] == "done", events[-1]
                    data = events[-1][1]
                else:
                    data = resp.json()
                assert len(data["text"]) == 60
                with lock:
                    served_steps.add(data["model"]["step"])
                    counts[i] += 1
            except Exception as exc:  # cualquier fallo cuenta
                with lock:
                    failures.append(f"cliente {i}: {exc!r}")

    # Una generación larga empieza antes del cambio: debe terminar con el modelo viejo.
    inflight = srv.post(
        "/generate", {"prompt": PROMPT, "max_new_tokens": 5000, "stream": True, "seed": 1},
        stream=True,
    )  # fmt: skip
    inflight_events = iter_sse(inflight.iter_lines(decode_unicode=True))
    assert next(inflight_events)[0] == "message"  # ya está generando

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    srv.wait_until(lambda: min(counts) >= 1, what="todos los clientes generan")

    ckpt = load_checkpoint(ckdir / "tiny.pt")
    ckpt.step = 1000
    with torch.no_grad():  # otro modelo de verdad: pesos distintos
        for tensor in ckpt.state_dict.values():
            if tensor.is_floating_point():
                tensor.add_(0.01)
    save_checkpoint(ckpt, ckdir / "tiny.pt")  # la misma escritura atómica que el entrenador
    srv.wait_until(lambda: steps_seen(srv) == {1000}, what="los dos workers sirven el paso 1000")
    # Contadas desde que los workers ya sirven el paso 1000 (no desde que se escribió el fichero:
    # en una máquina cargada la recarga puede tardar más que muchas peticiones). De estas, como
    # mucho CLIENTS empezaron antes con el modelo viejo; las demás usan el nuevo.
    reloaded_at = sum(counts)
    srv.wait_until(
        lambda: sum(counts) >= reloaded_at + 2 * CLIENTS, what="más peticiones tras el cambio"
    )
    stop.set()
    for t in threads:
        t.join(timeout=90)

    assert failures == []
    assert served_steps == {40, 1000}
    done = dict(inflight_events)["done"]
    assert done["model"]["step"] == 40 and len(done["text"]) == 5000
    srv.wait_for_log(r"modelo recargado: 'tiny.pt' \(gpt, paso 1000", count=WORKERS)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_3_corrupt_newer_checkpoint_is_skipped(lifecycle: tuple[ServerProcess, Path]) -> None:
    srv, ckdir = lifecycle
    good = (ckdir / "tiny.pt").read_bytes()
    _write_atomically(ckdir / "zz-truncado.pt", good[: len(good) // 2])
    pattern = r"checkpoint descartado: '.*zz-truncado\.pt' está corrupto, truncado"
    srv.wait_for_log(pattern, count=WORKERS)
    assert re.search(pattern + r".* Se sigue sirviendo 'tiny\.pt' \(paso 40\)\.", srv.log())
    assert steps_seen(srv) == {40}
    assert srv.post("/generate", {"prompt": PROMPT, "max_new_tokens": 5}).status_code == 200
    time.sleep(1.0)  # varias vueltas del vigilante: no lo reintenta en cada una
    assert len(re.findall(pattern, srv.log())) == WORKERS


class Payload:
    """Al deserializarse con pickle ejecutaría ``touch marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_4_malicious_checkpoint_is_refused_and_never_runs(
    lifecycle: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    srv, ckdir = lifecycle
    marker = tmp_path / "ejecutado"
    evil = tmp_path / "malicioso.pt"
    torch.save({"format": FORMAT_NAME, "format_version": 1, "x": Payload(marker)}, evil)
    # Control: con pickle sin restricciones la carga sí ejecuta el código (en otro proceso).
    subprocess.run(
        [sys.executable, "-c", f"import torch; torch.load({str(evil)!r}, weights_only=False)"],
        cwd=ROOT, env=python_env(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert marker.exists(), "la carga insegura debería haber ejecutado la carga útil"
    marker.unlink()

    _write_atomically(ckdir / "zzz-malicioso.pt", evil.read_bytes())
    srv.wait_for_log(
        r"checkpoint descartado: '.*zzz-malicioso\.pt' contiene objetos no permitidos",
        count=WORKERS,
    )
    assert not marker.exists()
    assert steps_seen(srv) == {40}
    assert srv.post("/generate", {"prompt": PROMPT, "max_new_tokens": 5}).status_code == 200


def load_errors(srv: ServerProcess) -> float:
    """Cargas fallidas que cuentan las métricas (de los dos workers), 0 si aún no hubo."""
    text = requests.get(srv.url("/metrics"), timeout=30).text
    match = re.search(r'^llm_checkpoint_loads_total\{result="error"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_5_a_good_newer_checkpoint_still_loads(lifecycle: tuple[ServerProcess, Path]) -> None:
    srv, ckdir = lifecycle
    errors_before = load_errors(srv)
    good = (ckdir / "tiny.pt").read_bytes()
    _write_atomically(ckdir / "zz-roto.pt", good[: len(good) // 3])  # uno roto, antes
    srv.wait_for_log(r"checkpoint descartado: '.*zz-roto\.pt'", count=WORKERS)
    ckpt = load_checkpoint(ckdir / "tiny.pt")
    ckpt.step = 2000
    ckpt.run_name = "nuevo"
    ckpt.val_loss = None  # un checkpoint sin evaluación: la API dice null, no omite el campo
    save_checkpoint(ckpt, ckdir / "zzzz-nuevo.pt")
    srv.wait_until(lambda: steps_seen(srv) == {2000}, what="los dos workers sirven el paso 2000")
    assert srv.get("/ready").json()["model"]["name"] == "nuevo"
    model = srv.post("/generate", {"prompt": PROMPT, "max_new_tokens": 3}).json()["model"]
    assert model == {"name": "nuevo", "type": "gpt", "step": 2000, "val_loss": None}
    assert "llm_model_step 2000.0" in requests.get(srv.url("/metrics"), timeout=30).text
    assert load_errors(srv) - errors_before == WORKERS  # el roto, una vez en cada worker
    # El servidor nunca escribe en CHECKPOINT_DIR (en Docker es de solo lectura).
    assert sorted(p.name for p in ckdir.iterdir()) == ["tiny.pt", "zz-roto.pt", "zzzz-nuevo.pt"]


# --- Checkpoints que se dejan leer pero no valen, y los bordes de la regla del último ---------

GOOD_STEP = 40


def _strict_json(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"JSON inválido: contiene {name}")

    return json.loads(text, parse_constant=refuse)  # NaN/Infinity no son JSON


def _info(srv: ServerProcess) -> dict:
    resp = srv.get("/info")
    assert resp.status_code == 200, resp.text
    return _strict_json(resp.text)


def _small_file_big_block(tokenizer_source: Path, path: Path) -> None:
    """Un checkpoint coherente de ~140 KB que declara block_size 16384: al construirlo pediría
    3 máscaras causales de 16384² bytes (805 MB), más que MEMORY_LIMIT=500M."""
    ckpt = load_checkpoint(tokenizer_source)
    cfg = GPTConfig(
        vocab_size=ckpt.tokenizer.vocab_size, block_size=16384, n_embd=2, n_head=1, n_layer=3
    )
    weights = {k: torch.zeros(shape) for k, shape in weight_shapes(cfg).items()}
    save_checkpoint(Checkpoint("gpt", cfg, ckpt.tokenizer, weights, step=5), path)


@pytest.fixture(scope="module")
def guarded(
    checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Path]]:
    ckdir = tmp_path_factory.mktemp("ckpt-guardado")
    shutil.copy2(checkpoint, ckdir / "tiny.pt")
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-guardado"),
        CHECKPOINT_DIR=str(ckdir),
        WEB_CONCURRENCY="1",
        RELOAD_INTERVAL="0.3",
        MEMORY_LIMIT="500M",
    ).start()
    with srv:
        srv.wait_until(lambda: steps_seen(srv, 1) == {GOOD_STEP}, what="sirve tiny.pt")
        yield srv, ckdir


def test_6_bad_checkpoints_are_refused_like_the_cli(guarded: tuple[ServerProcess, Path]) -> None:
    """En main, val_loss="abc" dejaba /info, /ready y /generate en 500, un vocabulario con un
    sustituto suelto rompía /info y /openapi.json, y NaN salía como JSON inválido."""
    srv, ckdir = guarded
    time.sleep(0.05)  # los inválidos llegan después que tiny.pt (regla por orden de llegada)
    paths = write_bad_checkpoints(ckdir / "tiny.pt", ckdir)
    _small_file_big_block(ckdir / "tiny.pt", ckdir / "block-16384.pt")
    expected = {p.name: text for p, (_, _, text) in zip(paths, BAD_CHECKPOINTS, strict=True)}
    expected["block-16384.pt"] = "más que el límite MEMORY_LIMIT=500M"
    assert (ckdir / "block-16384.pt").stat().st_size < 200_000

    def all_refused() -> bool:
        return {r["file"] for r in _info(srv)["rejected_checkpoints"]} == set(expected)

    srv.wait_until(all_refused, what="el servidor descarta todos los ficheros inválidos")
    info = _info(srv)
    assert info["model"]["step"] == GOOD_STEP and info["model"]["file"] == "tiny.pt"
    reasons = {r["file"]: r["reason"] for r in info["rejected_checkpoints"]}
    for name, text in expected.items():
        assert reasons[name].startswith(f"'{ckdir / name}' no es válido: "), reasons[name]
        assert text in reasons[name], (name, reasons[name])
        assert f"checkpoint descartado: {reasons[name]} Se sigue sirviendo 'tiny.pt'" in srv.log()
    assert srv.get("/ready").json()["model"]["step"] == GOOD_STEP
    assert srv.post("/generate", {"prompt": PROMPT, "max_new_tokens": 5}).status_code == 200
    assert srv.get("/openapi.json").status_code == 200

    # La CLI rechaza los mismos ficheros por el mismo motivo, palabra por palabra, y cae en el
    # mismo tiny.pt que sirve el servidor.
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.generate", "--ckpt", str(ckdir), "--device", "cpu",
         "--max-new-tokens", "3", "--seed", "1"],
        cwd=ROOT, env=python_env(MEMORY_LIMIT="500M", OMP_NUM_THREADS="1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("aviso: ")]
    assert sorted(warnings) == sorted(
        f"aviso: se salta un checkpoint: {reason} Se prueba con el anterior."
        for reason in reasons.values()
    )


def _wait_step(srv: ServerProcess, step: int, what: str) -> None:
    srv.wait_until(lambda: _info(srv)["model"]["step"] == step, what=what)


def _variant(source: Path, dest: Path, step: int) -> Path:
    ckpt = load_checkpoint(source)
    ckpt.step = step
    return save_checkpoint(ckpt, dest)


def test_7_reload_follows_arrival_not_mtime(
    guarded: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    """En main: un fichero con fecha futura fijaba el modelo servido (ni uno nuevo ni borrarlo
    lo cambiaba) y una copia ``cp -p`` de un paso más nuevo no se cargaba nunca."""
    srv, ckdir = guarded
    future = _variant(ckdir / "tiny.pt", ckdir / "futuro.pt", 100)
    year_3000 = 32_503_680_000 * 10**9
    os.utime(future, ns=(year_3000, year_3000))
    _wait_step(srv, 100, "sirve futuro.pt")
    _variant(ckdir / "tiny.pt", ckdir / "nuevo.pt", 200)
    _wait_step(srv, 200, "un checkpoint nuevo gana al de fecha futura")
    outside = _variant(ckdir / "tiny.pt", tmp_path / "paso-300.pt", 300)
    os.utime(outside, ns=(10**9, 10**9))  # fecha de 1970
    shutil.copy2(outside, ckdir / "copia.pt")  # cp -p: conserva la fecha vieja
    _wait_step(srv, 300, "la copia cp -p se carga")
    (ckdir / "copia.pt").unlink()
    (ckdir / "nuevo.pt").unlink()
    _wait_step(srv, 100, "al borrar el servido, el último utilizable que queda")
    future.unlink()
    _wait_step(srv, GOOD_STEP, "y después tiny.pt (los inválidos se siguen saltando)")
    assert srv.get("/ready").json()["model"]["step"] == GOOD_STEP
