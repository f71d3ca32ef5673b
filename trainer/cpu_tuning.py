"""Entrenar rápido en CPU: cuántos hilos usa torch (medido sobre la marcha) y la memoria de glibc.

Dos ajustes del proceso que no cambian ninguna cifra del modelo, solo lo que tarda el paso.

Hilos. Torch reparte cada operación entre sus hilos (OpenMP) y, al acabar cada una, los hilos
se esperan unos a otros dando vueltas en la CPU (espera activa) antes de dormirse. Si otro
proceso ocupa uno de los núcleos, el sistema quita la CPU a uno de nuestros hilos y el otro se
queda esperándolo en cada una de los cientos de operaciones del paso: con 2 núcleos y un proceso
ocupado, el paso de la semilla tardaba 4-6 veces más en vez de unas 2. Con un solo hilo no hay a
quién esperar. Esperar durmiendo (``OMP_WAIT_POLICY=PASSIVE``) evita el desastre, pero con la
máquina tranquila hace el paso hasta un 20 % más lento: cada espera cuesta despertar a un hilo.

Así que el entrenador mide, procurando que medir no cueste nada con la máquina tranquila:

- Tras unos pasos de calentamiento, una prueba: unos pasos con los hilos actuales (todos) y
  luego con cada número de hilos candidato (la mitad, uno). Un candidato cuyo primer paso ya va
  claramente más lento (un 30 % o más) se descarta sin darle más pasos: con la máquina
  tranquila, la prueba cuesta un solo paso con un hilo.
- Se queda con menos hilos que todos solo si van al menos un 10 % más rápido: el ruido de unos
  pocos pasos no basta para dejar el máximo.
- Con todos los hilos, vuelve a probar si el paso se vuelve mucho más lento (la mediana de los
  últimos 9 pasos, 1,5 veces lo medido), es decir, si otro proceso empieza a ocupar la CPU. Un
  paso lento suelto (el primero tras una evaluación, el ruido) no mueve la mediana. Aparte, una
  prueba de seguridad cada 120 s de pasos (un paso con un hilo, ~0,1 % del tiempo), por si la
  prueba anterior se equivocó: si la máquina ya estaba ocupada al medir, lo medido es lento y
  la mediana no avisaría.
- Con menos hilos que todos, prueba de vez en cuando (tras 20, 40, 80 y luego cada 160 s de
  pasos) si más hilos ya rinden, por si la máquina se ha quedado libre: con un hilo, que la
  máquina se libere no cambia lo que tarda el paso, así que hay que probarlo. Con la máquina
  aún ocupada, el primer paso con más hilos ya los descarta.

El tiempo que cuenta es el de los pasos de entrenamiento: la evaluación y los checkpoints no se
miden (el bucle toma el tiempo del paso antes de evaluar), así que no disparan pruebas.

``OMP_NUM_THREADS`` (o un solo núcleo) fija el número y apaga el ajuste. Así, además, dos
entrenamientos con la misma semilla dan lo mismo bit a bit: con otro número de hilos las sumas
se reparten de otra forma y cambia el último bit de la pérdida.

Memoria (``keep_freed_memory``): que glibc reutilice los bloques grandes en vez de devolverlos.
Cada paso crea y libera las mismas activaciones grandes (decenas de MB). glibc sirve esos bloques
con mmap y al liberarlos los devuelve al sistema, así que el paso siguiente los vuelve a pedir y
el núcleo tiene que mapear y poner a cero cada página de 4 KB otra vez. En una máquina virtual
eso es caro: medido en docs/BENCHMARKS.md, el paso bf16 del GPT 6×384 va un ~30 % más lento.
Con ``mallopt`` le pedimos que sirva todo desde su montículo y no lo devuelva: después del primer
paso la memoria se reutiliza. El precio: el proceso no devuelve memoria hasta que termina.

Cuánta memoria pedirá un modelo (y el rechazo de lo que no cabe, antes de reservar nada) está en
``shared/common/memory_estimate.py``: el servidor también lo usa al cargar checkpoints.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import statistics
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

WARMUP_STEPS = 3  # los primeros pasos preparan memoria y núcleos: no dicen nada
PROBE_STEPS = 5  # pasos medidos por candidato (si su primer paso no lo descarta ya)
EARLY_DROP = 1.3  # un primer paso así de más lento que lo mejor medido descarta al candidato
MARGIN = 0.9  # menos hilos que todos solo si su paso tarda ≤ 0,9 × el de todos
WINDOW = 9  # pasos recientes (impar) cuya mediana vigila si la máquina se ha vuelto más lenta
SLOWDOWN = 1.5  # mediana reciente así de más lenta que lo medido: volver a probar
RECHECK_S = 20.0  # con menos hilos que todos, probar más hilos tras estos segundos de pasos…
MAX_RECHECK_S = 160.0  # …y el doble cada vez que la elección se mantiene, hasta esto
SAFETY_RECHECK_S = 120.0  # con todos los hilos, una prueba de menos hilos cada tanto, por si acaso


def candidates(max_threads: int) -> list[int]:
    """Todos los hilos, la mitad y uno (sin repetir), de más a menos."""
    return sorted({max_threads, max(1, max_threads // 2), 1}, reverse=True)


class ThreadTuner:
    """Elige el número de hilos de torch midiendo pasos reales (ver el docstring del módulo).

    ``observe(segundos)`` tras cada paso de entrenamiento; el ajuste se aplica con
    ``set_threads`` (``torch.set_num_threads``), que vale desde la operación siguiente.
    """

    def __init__(
        self, max_threads: int, set_threads: Callable[[int], None] = torch.set_num_threads
    ) -> None:
        self.options = candidates(max_threads)
        self.max_threads = max_threads
        self.set_threads = set_threads
        self.threads = max_threads  # los que usará el paso siguiente
        self.choice = max_threads  # la elección vigente (durante una prueba, la de antes)
        self.reference = 0.0  # segundos por paso de la elección, medidos al probar
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.warmup = WARMUP_STEPS
        self.elapsed = 0.0  # segundos de pasos de entrenamiento (sin evaluación ni guardado)
        self.interval = RECHECK_S
        self.next_check = 0.0
        self.queue: list[int] = []  # candidatos que faltan por probar
        self.samples: dict[int, list[float]] = {}
        # Para el benchmark, las pruebas y el JSONL de métricas:
        self.choices: list[int] = []  # la elección tras cada prueba
        self.steps_below_max = 0  # pasos dados con menos hilos que todos
        self.probes = 0  # pruebas empezadas

    @property
    def enabled(self) -> bool:
        return len(self.options) > 1

    def stats(self) -> dict[str, Any]:
        """Lo que ha costado ajustar: va al JSONL de métricas y al benchmark."""
        return {"thread_probes": self.probes, "steps_below_max_threads": self.steps_below_max}

    def observe(self, seconds: float) -> None:
        if not self.enabled:
            return
        self.steps_below_max += self.threads < self.max_threads
        self.elapsed += seconds
        if self.warmup:
            self.warmup -= 1
            if not self.warmup:
                self._start_probe(self.options)
        elif self.queue:
            self._probe_step(seconds)
        elif self._slowed_down(seconds):
            self._start_probe(self.options)
        elif self.elapsed >= self.next_check:
            # Con menos hilos: ¿se ha quedado libre la máquina? Basta con probar más hilos.
            # Con todos (de tarde en tarde): por si la prueba anterior se equivocó.
            at_max = self.choice == self.max_threads
            self._start_probe([n for n in self.options if at_max or n >= self.choice])

    def _slowed_down(self, seconds: float) -> bool:
        """¿La mediana de los últimos pasos va mucho más lenta que lo medido al elegir?"""
        self.recent.append(seconds)
        if len(self.recent) < WINDOW:
            return False
        median = statistics.median(self.recent)
        # Si la máquina va más deprisa que cuando se midió, esa es la referencia nueva.
        self.reference = min(self.reference, median)
        return median > SLOWDOWN * self.reference

    def _start_probe(self, options: list[int]) -> None:
        # La elección vigente primero: para medirla no hay que cambiar nada.
        self.queue = [self.choice] + [n for n in options if n != self.choice]
        self.samples = {n: [] for n in self.queue}
        # Los últimos pasos ya la han medido: más muestras, mediana más fiable, sin coste.
        self.samples[self.choice] = list(self.recent)
        self.probes += 1

    def _score(self, threads: int) -> float:
        """Segundos por paso, con desventaja para menos hilos que todos (ver MARGIN)."""
        median = statistics.median(self.samples[threads])
        return median if threads == self.max_threads else median / MARGIN

    def _probe_step(self, seconds: float) -> None:
        current = self.queue[0]
        self.samples[current].append(seconds)
        measured = [n for n in self.samples if n != current and len(self.samples[n]) > 0]
        best = min((self._score(n) for n in measured), default=None)
        dropped = best is not None and self._score(current) > EARLY_DROP * best
        if len(self.samples[current]) < PROBE_STEPS and not dropped:
            return
        if dropped:
            del self.samples[current]  # claramente peor: ni un paso más con este número
        self.queue.pop(0)
        if self.queue:
            self._switch(self.queue[0])
        else:
            self._finish_probe()

    def _finish_probe(self) -> None:
        best = min(self.samples, key=lambda n: (self._score(n), -n))
        if best == self.choice and self.choices:
            # La elección se mantiene: la próxima comprobación, más de tarde en tarde.
            self.interval = min(2 * self.interval, MAX_RECHECK_S)
        else:
            self.interval = RECHECK_S
        self.choices.append(best)
        self.choice = best
        self._switch(best)
        self.reference = statistics.median(self.samples[best])
        self.recent.clear()
        below = best < self.max_threads
        self.next_check = self.elapsed + (self.interval if below else SAFETY_RECHECK_S)

    def _switch(self, threads: int) -> None:
        if threads != self.threads:
            self.set_threads(threads)
            self.threads = threads


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


M_TRIM_THRESHOLD = -1  # constantes de <malloc.h>
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Solo en Linux con glibc; en otro sistema no hace nada. Devuelve si se aplicó."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Sin bloques mmap y sin devolver el final del montículo (umbral de recorte enorme).
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
