"""trainer/cpu_tuning.py: el número de hilos que elige el entrenador según lo que mide.

Los tiempos de paso son inventados, con ruido de una semilla fija (la lógica de decisión es lo
que se prueba); cuánto cuesta y cuánto mejora de verdad lo mide ``make bench`` (fila «CPU
ocupada»).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS
from trainer import cpu_tuning as threads
from trainer.cpu_tuning import ThreadTuner, candidates

# Segundos por paso de la semilla, a grandes rasgos como en la máquina de 2 núcleos medida.
QUIET = {2: 0.05, 1: 0.10}  # tranquila: un hilo va ~2 veces más lento
BUSY = {2: 0.20, 1: 0.11}  # un núcleo ocupado: dos hilos se esperan y se hunden
FIVE_MINUTES = 6000  # pasos de 50 ms


class FakeMachine:
    """Un paso tarda ``step_s[hilos]`` con ruido: ±10 % casi siempre y, en un 4 % de los pasos,
    de 1,5 a 3 veces más (una evaluación, un guardado, otro proceso un momento)."""

    def __init__(
        self,
        step_s: dict[int, float],
        max_threads: int = 2,
        seed: int = 0,
        spikes: frozenset[int] = frozenset(),
        noise: bool = True,
    ) -> None:
        self.step_s = step_s
        self.noise = noise
        self.spikes = spikes  # pasos (desde 0) que tardan 4 veces más, además del ruido
        self.rng = random.Random(seed)
        self.sets: list[int] = []
        self.used: list[int] = []  # hilos de cada paso dado
        self.tuner = ThreadTuner(max_threads, set_threads=self.sets.append)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            seconds = self.step_s[self.tuner.threads]
            if self.noise:
                seconds *= self.rng.lognormvariate(0, 0.1)
                if self.rng.random() < 0.04:
                    seconds *= self.rng.uniform(1.5, 3)
            if len(self.used) in self.spikes:
                seconds *= 4
            self.used.append(self.tuner.threads)
            self.tuner.observe(seconds)

    def steps_with(self, threads: int, since: int = 0) -> int:
        return sum(1 for n in self.used[since:] if n == threads)


def test_candidates() -> None:
    assert candidates(1) == [1]
    assert candidates(2) == [2, 1]
    assert candidates(8) == [8, 4, 1]


def test_a_quiet_machine_costs_a_step_per_probe_and_few_probes() -> None:
    for seed in range(5):
        m = FakeMachine(QUIET, seed=seed)
        m.run(FIVE_MINUTES)
        assert set(m.tuner.choices) == {2} and m.tuner.threads == 2
        # La prueba del principio y las de seguridad (cada 120 s de pasos): un paso con un hilo
        # cada una, porque el primero ya va claramente más lento. Ningún paso lento suelto
        # dispara otra.
        probes = 1 + int(FIVE_MINUTES * QUIET[2] / threads.SAFETY_RECHECK_S)
        assert m.steps_with(1) <= probes, (seed, m.tuner.choices, m.steps_with(1))
        assert m.tuner.stats() == {
            "thread_probes": len(m.tuner.choices),
            "steps_below_max_threads": m.steps_with(1),
        }


def test_a_busy_machine_drops_to_one_thread_and_rarely_tries_two() -> None:
    for seed in range(5):
        m = FakeMachine(BUSY, seed=seed)
        m.run(FIVE_MINUTES)
        assert m.tuner.choices[0] == 1
        assert m.tuner.threads == 1
        # Tras elegir, las comprobaciones de si la máquina quedó libre (20, 40, 80, 160 s…)
        # cuestan un paso con dos hilos cada una: el primero ya dice que siguen hundidos.
        first_choice = threads.WARMUP_STEPS + 2 * threads.PROBE_STEPS
        assert m.steps_with(2, since=first_choice) <= 8, (seed, m.steps_with(2, first_choice))


def test_a_machine_getting_busy_switches_to_one_thread_at_once() -> None:
    m = FakeMachine(QUIET)
    m.run(2000)
    assert m.tuner.threads == 2
    m.step_s = BUSY  # otro proceso empieza a ocupar un núcleo
    m.run(25)  # la mediana de los últimos pasos se dispara, se prueba y gana un hilo
    assert m.tuner.threads == 1
    assert m.tuner.choices[-1] == 1


def test_a_machine_freed_goes_back_to_every_thread_and_stays() -> None:
    m = FakeMachine(BUSY)
    m.run(2000)
    assert m.tuner.threads == 1
    m.step_s = QUIET  # el otro proceso terminó: a un hilo nada cambia...
    m.run(int(threads.MAX_RECHECK_S / QUIET[1]) + 20)  # ...pero la comprobación periódica lo ve
    assert m.tuner.threads == 2
    back = len(m.used)
    m.run(FIVE_MINUTES)  # y con todos los hilos otra vez, solo las pruebas de seguridad:
    safety_probes = 1 + int(FIVE_MINUTES * QUIET[2] / threads.SAFETY_RECHECK_S)
    assert m.steps_with(1, since=back) <= safety_probes, m.steps_with(1, since=back)
    assert m.tuner.threads == 2


def test_a_wrong_first_choice_is_corrected_by_the_safety_probe() -> None:
    # Máquina ocupada, pero el primer paso con un hilo de la prueba inicial sale muy lento (algo
    # ajeno): la prueba lo descarta y se queda con dos hilos, que van hundidos…
    first_one_thread = threads.WARMUP_STEPS + threads.PROBE_STEPS
    m = FakeMachine(BUSY, spikes=frozenset({first_one_thread}))
    m.run(first_one_thread + 1)
    assert m.tuner.choices == [2]
    # …hasta la prueba de seguridad, tras SAFETY_RECHECK_S segundos de pasos.
    m.run(int(threads.SAFETY_RECHECK_S / BUSY[2]) + 20)
    assert m.tuner.threads == 1 and m.tuner.choices[-1] == 1


def test_fewer_threads_must_be_clearly_faster() -> None:
    # Un hilo apenas un 5 % más rápido que dos (sin ruido: la diferencia es real) no compensa
    # dejar el máximo: eso es lo que el ruido de unos pocos pasos puede hacer ver.
    m = FakeMachine({2: 0.100, 1: 0.095}, noise=False)
    m.run(500)
    assert m.tuner.choices == [2] and m.tuner.threads == 2


def test_eight_cores_pick_half_when_half_is_fastest() -> None:
    m = FakeMachine({8: 0.30, 4: 0.10, 1: 0.25}, max_threads=8)
    m.run(100)
    assert m.tuner.choices == [4] and m.tuner.threads == 4


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
        # Lo que costó ajustar, en el JSONL: una prueba al menos, tras el calentamiento.
        assert row["thread_probes"] >= 1
        assert 0 <= row["steps_below_max_threads"] <= 20
    else:  # una máquina de un núcleo no tiene nada que ajustar
        assert "Hilos: 1 hilo(s) de CPU (fijo)." in stdout, stdout
        assert "thread_probes" not in row
    stdout, row = run_cli(tiny_data, tmp_path / "fijo", OMP_NUM_THREADS="1")
    assert "Hilos: 1 hilo(s) de CPU (fijado por OMP_NUM_THREADS)." in stdout, stdout
    assert row["threads"] == 1
    assert "thread_probes" not in row
