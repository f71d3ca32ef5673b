"""trainer/threads.py: el número de hilos que elige el entrenador según lo que mide.

Los tiempos de paso son inventados (la lógica de decisión es lo que se prueba); cuánto mejora
de verdad con otro proceso ocupando la CPU lo mide ``make bench`` (fila «CPU ocupada»).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS
from trainer import threads
from trainer.threads import ThreadTuner, candidates


class FakeMachine:
    """Un paso tarda lo que diga ``step_s[hilos]``; el reloj avanza lo que tarda cada paso."""

    def __init__(self, step_s: dict[int, float], max_threads: int = 2) -> None:
        self.step_s = step_s
        self.now = 0.0
        self.sets: list[int] = []
        self.tuner = ThreadTuner(max_threads, set_threads=self.sets.append, clock=lambda: self.now)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            seconds = self.step_s[self.tuner.threads]
            self.now += seconds
            self.tuner.observe(seconds)


def test_candidates() -> None:
    assert candidates(1) == [1]
    assert candidates(2) == [2, 1]
    assert candidates(8) == [8, 4, 1]


def test_quiet_machine_keeps_every_thread() -> None:
    m = FakeMachine({2: 0.08, 1: 0.14})
    m.run(40)
    assert m.tuner.choices == [2]
    assert m.tuner.threads == 2
    assert m.sets == [1, 2]  # probó uno y volvió a dos


def test_busy_machine_drops_to_one_thread() -> None:
    m = FakeMachine({2: 0.50, 1: 0.14})
    m.run(40)
    assert m.tuner.choices == [1]
    assert m.tuner.threads == 1


def test_a_sudden_slowdown_probes_again_at_once() -> None:
    m = FakeMachine({2: 0.08, 1: 0.14})
    m.run(20)
    assert m.tuner.choices == [2]
    m.step_s = {2: 0.50, 1: 0.14}  # otro proceso empieza a ocupar un núcleo
    # Tres pasos lentos seguidos y una prueba de cada candidato (más el paso descartado).
    m.run(threads.STRIKES + 2 * (threads.PROBE_STEPS + 1))
    assert m.tuner.choices == [2, 1]
    assert m.tuner.threads == 1


def test_goes_back_to_every_thread_when_the_machine_frees_up() -> None:
    m = FakeMachine({2: 0.50, 1: 0.14})
    m.run(20)
    assert m.tuner.threads == 1
    m.step_s = {2: 0.08, 1: 0.14}  # el otro proceso terminó: a un hilo nada cambia...
    m.run(int(threads.RECHECK_S / 0.14) + 20)  # ...pero la comprobación periódica lo ve
    assert m.tuner.threads == 2
    assert m.tuner.choices[-1] == 2


def test_recheck_interval_grows_while_the_choice_holds() -> None:
    m = FakeMachine({2: 0.08, 1: 0.14})
    m.run(4000)  # 5 min de pasos de 80 ms
    assert set(m.tuner.choices) == {2}
    assert m.tuner.interval == threads.MAX_RECHECK_S
    probes = len(m.tuner.choices)
    assert 3 <= probes <= 6, probes  # 20 + 40 + 80 + 160 s…: pocas pruebas, no una cada 20 s


def test_one_thread_means_no_tuning() -> None:
    m = FakeMachine({1: 0.14}, max_threads=1)
    m.run(50)
    assert not m.tuner.enabled and m.sets == [] and m.tuner.choices == []


def run_cli(tiny_data: Path, out: Path, **env: str) -> tuple[str, dict]:
    """``python -m trainer`` de verdad, sin el OMP_NUM_THREADS=1 del resto de las pruebas."""
    cmd = [
        sys.executable, "-m", "trainer", *TINY_GPT_ARGS, "--data", str(tiny_data),
        "--max-steps", "20", "--eval-interval", "20", "--checkpoint-dir", str(out),
        "--run-name", "hilos",
    ]  # fmt: skip
    base = {k: v for k, v in SUBPROCESS_ENV.items() if k != "OMP_NUM_THREADS"}
    proc = subprocess.run(
        cmd, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    lines = (out / "hilos.metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return proc.stdout, json.loads(lines[0])


def test_cli_tunes_threads_unless_omp_num_threads_is_set(tiny_data: Path, tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    stdout, row = run_cli(tiny_data, tmp_path / "libre")
    if cores > 1:
        assert f"Hilos: hasta {cores} hilos de CPU; se prueba con" in stdout, stdout
        assert 1 <= row["threads"] <= cores
    else:  # una máquina de un núcleo no tiene nada que ajustar
        assert "Hilos: 1 hilo(s) de CPU (fijo)." in stdout, stdout
    stdout, row = run_cli(tiny_data, tmp_path / "fijo", OMP_NUM_THREADS="1")
    assert "Hilos: 1 hilo(s) de CPU (fijado por OMP_NUM_THREADS)." in stdout, stdout
    assert row["threads"] == 1
