"""Fila «CPU ocupada»: la orden de entrenamiento de la semilla sola y junto a otro proceso.

Ejecuta ``python -m trainer`` de verdad (el GPT de ``make train``, menos pasos) con la máquina
como esté y con un proceso que ocupa un núcleo entero (un bucle vacío que lanza y para el propio
benchmark). Lo hace con las dos políticas de hilos, alternándolas en la misma ejecución para que
la carga de fuera les afecte por igual:

- ``fija``: ``OMP_NUM_THREADS`` = núcleos, todos los hilos siempre (lo que hacía el entrenador
  antes de ``trainer/cpu_tuning.py``, y lo que hace torch por defecto);
- ``ajustada``: sin ``OMP_NUM_THREADS``, el entrenador mide y elige los hilos sobre la marcha.

Objetivos (issue 13): con la política ajustada, ocupada ≤ 2,3 × tranquila, y la tranquila no
más lenta que la fija. Los tokens/s son los del propio entrenador (su JSONL de métricas: solo
los pasos, incluidos el calentamiento y las pruebas de hilos; sin arranque ni evaluación).

Como la velocidad «tranquila» depende de lo que haga la máquina, la fila da además una cifra que
no depende de la carga: cuántos pasos dio la ajustada con menos hilos que todos en la mitad
tranquila, y cuántas pruebas de hilos hizo (del mismo JSONL).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.training import SIZES
from shared.checkpoints.files import METRICS_SUFFIX

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("fija", "ajustada")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # fuera de Linux
        return os.cpu_count() or 1


def start_busy_loop() -> subprocess.Popen[bytes]:
    """Un proceso que ocupa un núcleo entero hasta que se le para."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def policy_env(policy: str, cores: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(PYTHONPATH=str(ROOT), LLM_NO_PROGRESS="1", PYTHONUNBUFFERED="1")
    if policy == "fija":
        env["OMP_NUM_THREADS"] = str(cores)
    return env


def train_once(policy: str, steps: int, data: str, workdir: Path, cores: int) -> dict[str, Any]:
    """Un entrenamiento de la semilla con la CLI; tokens/s e hilos según su JSONL."""
    s = SIZES["semilla"]
    run = f"{policy}-{len(list(workdir.glob('*.pt')))}"
    cmd = [
        sys.executable, "-m", "trainer", "--model", "gpt", "--data", data,
        "--n-embd", str(s["n_embd"]), "--n-head", str(s["n_head"]),
        "--n-layer", str(s["n_layer"]), "--block-size", str(s["block_size"]),
        "--batch-size", str(s["batch_size"]), "--max-steps", str(steps),
        "--eval-interval", str(steps), "--eval-iters", "1",
        "--checkpoint-dir", str(workdir), "--run-name", run, "--no-progress",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, env=policy_env(policy, cores), capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"el entrenamiento falló:\n{proc.stdout}\n{proc.stderr}")
    lines = (workdir / f"{run}{METRICS_SUFFIX}").read_text(encoding="utf-8").splitlines()
    row = next(r for r in map(json.loads, lines) if "tokens_per_sec" in r)
    tokens_per_step = s["batch_size"] * s["block_size"]
    return {
        "tokens_per_s": row["tokens_per_sec"],
        "step_ms": round(1000 * tokens_per_step / row["tokens_per_sec"], 2),
        "threads_at_end": row.get("threads"),
        # Solo la ajustada: pruebas de hilos y pasos con menos hilos que todos.
        "thread_probes": row.get("thread_probes"),
        "steps_below_max": row.get("steps_below_max_threads"),
    }


def measure_busy(steps: int, rounds: int, data: str) -> dict[str, Any]:
    cores = available_cores()
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="llm-bench-ocupada-") as tmp:
        workdir = Path(tmp)
        for r in range(rounds):
            # Orden alterno: fija, ajustada, ajustada, fija…
            for policy in POLICIES if r % 2 == 0 else POLICIES[::-1]:
                for condition in ("tranquila", "ocupada"):
                    print(f"  {policy}, {condition}…", flush=True)
                    busy = start_busy_loop() if condition == "ocupada" else None
                    try:
                        result = train_once(policy, steps, data, workdir, cores)
                    finally:
                        if busy is not None:
                            stop(busy)
                    runs.setdefault((policy, condition), []).append(result)
                    print(
                        f"    {result['step_ms']:,.1f} ms/paso, {result['threads_at_end']} "
                        "hilo(s) al final",
                        flush=True,
                    )
    rows = []
    for (policy, condition), results in runs.items():
        rows.append(
            {
                "policy": policy,
                "condition": condition,
                "step_ms": statistics.median(r["step_ms"] for r in results),
                "tokens_per_s": statistics.median(r["tokens_per_s"] for r in results),
                "threads_at_end": [r["threads_at_end"] for r in results],
                "runs": results,
            }
        )
    ms = {(r["policy"], r["condition"]): r["step_ms"] for r in rows}
    quiet = runs["ajustada", "tranquila"]
    below = sum(r["steps_below_max"] or 0 for r in quiet)
    summary = {
        policy: round(ms[policy, "ocupada"] / ms[policy, "tranquila"], 2) for policy in POLICIES
    }
    return {
        "cores": cores,
        "steps": steps,
        "rounds": rounds,
        "rows": rows,
        "busy_over_quiet": summary,
        # > 1: la política ajustada es más rápida que la fija con la máquina tranquila.
        "quiet_fixed_over_tuned": round(ms["fija", "tranquila"] / ms["ajustada", "tranquila"], 2),
        # Lo que costó ajustar con la máquina tranquila, en todas sus vueltas juntas.
        "quiet_tuned": {
            "steps": steps * len(quiet),
            "steps_below_max": below,
            "pct_below_max": round(100 * below / (steps * len(quiet)), 2),
            "probes": sum(r["thread_probes"] or 0 for r in quiet),
        },
    }
