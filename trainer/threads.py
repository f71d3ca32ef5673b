"""Cuántos hilos de CPU usa torch al entrenar: los que rinden, medido sobre la marcha.

Por qué: torch reparte cada operación entre sus hilos (OpenMP) y, al acabar cada una, los hilos
se esperan unos a otros dando vueltas en la CPU (espera activa) antes de dormirse. Si otro
proceso ocupa uno de los núcleos, el sistema quita la CPU a uno de nuestros hilos y el otro se
queda esperándolo en cada una de los cientos de operaciones del paso: con 2 núcleos y un proceso
ocupado, el paso de la semilla tardaba 4-6 veces más en vez de unas 2. Con un solo hilo no hay a
quién esperar. Esperar durmiendo (``OMP_WAIT_POLICY=PASSIVE``) evita el desastre, pero con la
máquina tranquila hace el paso hasta un 20 % más lento: cada espera cuesta despertar a un hilo.

Así que el entrenador mide: tras unos pasos de calentamiento prueba unos pocos pasos con cada
número de hilos candidato (todos, la mitad, uno) y se queda con el más rápido. Con la máquina
tranquila gana el máximo (lo mismo que antes); con otro proceso ocupando un núcleo, menos. Si el
paso se vuelve mucho más lento que lo medido, vuelve a probar enseguida; si no, cada vez más de
tarde en tarde (por si la máquina se ha quedado libre).

``OMP_NUM_THREADS`` (o un solo núcleo) fija el número y apaga el ajuste. Así, además, dos
entrenamientos con la misma semilla dan lo mismo bit a bit: con otro número de hilos las sumas
se reparten de otra forma y cambia el último bit de la pérdida.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch

WARMUP_STEPS = 3  # los primeros pasos preparan memoria y núcleos: no dicen nada
PROBE_STEPS = 3  # pasos medidos por candidato (más uno descartado tras cambiar)
RECHECK_S = 20.0  # primera comprobación periódica; se dobla mientras no cambie nada
MAX_RECHECK_S = 160.0
SLOWDOWN = 1.6  # un paso así de más lento que lo medido es una «señal de alarma»
STRIKES = 3  # tres seguidas: algo ha cambiado en la máquina, volver a probar


def candidates(max_threads: int) -> list[int]:
    """Todos los hilos, la mitad y uno (sin repetir), de más a menos."""
    return sorted({max_threads, max(1, max_threads // 2), 1}, reverse=True)


class ThreadTuner:
    """Elige el número de hilos de torch midiendo pasos reales (ver el docstring del módulo).

    ``observe(segundos)`` tras cada paso de entrenamiento; el ajuste se aplica con
    ``set_threads`` (``torch.set_num_threads``), que vale desde la operación siguiente.
    """

    def __init__(
        self,
        max_threads: int,
        set_threads: Callable[[int], None] = torch.set_num_threads,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = candidates(max_threads)
        self.set_threads = set_threads
        self.clock = clock
        self.threads = max_threads
        self.reference = 0.0  # segundos por paso con la elección actual, medidos al probar
        self.interval = RECHECK_S
        self.next_check = 0.0
        self.strikes = 0
        self.warmup = WARMUP_STEPS
        self.queue: list[int] = []  # candidatos que faltan por probar
        self.samples: dict[int, list[float]] = {}
        self.skip = False  # descartar el primer paso tras cambiar de número de hilos
        self.choices: list[int] = []  # historial de elecciones (para el benchmark y las pruebas)

    @property
    def enabled(self) -> bool:
        return len(self.options) > 1

    def observe(self, seconds: float) -> None:
        if not self.enabled:
            return
        if self.warmup:
            self.warmup -= 1
            if not self.warmup:
                self._start_probe()
            return
        if self.queue:
            self._probe_step(seconds)
            return
        self.strikes = self.strikes + 1 if seconds > SLOWDOWN * self.reference else 0
        if self.strikes >= STRIKES:
            self.interval = RECHECK_S
            self._start_probe()
        elif self.clock() >= self.next_check:
            self._start_probe()

    def _start_probe(self) -> None:
        # El actual primero: no hace falta cambiar (ni descartar un paso) para medirlo.
        self.queue = [self.threads] + [n for n in self.options if n != self.threads]
        self.samples = {n: [] for n in self.options}
        self.skip = False
        self.strikes = 0

    def _switch(self, threads: int) -> None:
        if threads != self.threads:
            self.set_threads(threads)
            self.threads = threads
            self.skip = True

    def _probe_step(self, seconds: float) -> None:
        current = self.queue[0]
        if self.skip:
            self.skip = False
        else:
            self.samples[current].append(seconds)
        if len(self.samples[current]) < PROBE_STEPS:
            return
        self.queue.pop(0)
        if self.queue:
            self._switch(self.queue[0])
            return
        scores = {n: statistics.median(times) for n, times in self.samples.items()}
        best = min(scores, key=lambda n: (scores[n], -n))
        previous = self.choices[-1] if self.choices else None
        # Si la elección se mantiene, comprobar cada vez más de tarde en tarde.
        self.interval = min(2 * self.interval, MAX_RECHECK_S) if best == previous else RECHECK_S
        self.choices.append(best)
        self._switch(best)
        self.skip = False
        self.reference = scores[best]
        self.next_check = self.clock() + self.interval


def tuner_for(device: torch.device, distributed: bool) -> ThreadTuner | None:
    """Un ajustador de hilos donde tiene sentido: CPU, un solo proceso, hilos sin fijar."""
    if device.type != "cpu" or distributed or os.environ.get("OMP_NUM_THREADS"):
        return None
    tuner = ThreadTuner(torch.get_num_threads())
    return tuner if tuner.enabled else None


def describe_threads(tuner: ThreadTuner | None) -> str:
    """La frase del registro al empezar."""
    n = torch.get_num_threads()
    if tuner is None:
        why = "fijado por OMP_NUM_THREADS" if os.environ.get("OMP_NUM_THREADS") else "fijo"
        return f"{n} hilo(s) de CPU ({why})."
    options = ", ".join(str(n) for n in tuner.options)
    return (
        f"hasta {n} hilos de CPU; se prueba con {options} y se usa el más rápido, por si otro "
        "proceso ocupa la CPU (OMP_NUM_THREADS=N fija el número)."
    )
