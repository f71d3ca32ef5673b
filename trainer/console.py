"""Lo que el entrenamiento le dice a una persona en la consola.

Los números a la española (424 576 parámetros, pérdida 2,27), con las funciones de
``shared/common/spanish_numbers.py``; las líneas al empezar, la barra de progreso, el resumen del
final y las órdenes para seguir. Solo lo que lee una persona: el JSON y las métricas guardan los
números tal cual (``2.2715``), que es lo que esperan los programas.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from shared.common.addresses import playground_url
from shared.common.spanish_numbers import fmt_float, fmt_int
from trainer.settings import TrainSettings, default_checkpoint_dir

if TYPE_CHECKING:  # solo para los tipos: la consola no importa torch ni el bucle
    from trainer.data import TextDataset
    from trainer.loop import TrainResult

# Lo que dice la barra de progreso en cada momento.
TRAINING = "entrenando"
EVALUATING = "evaluando…"
FINAL_EVALUATION = "evaluación final…"  # exacta, sobre todo el split de validación


def next_steps(model: str, checkpoint_path: Path) -> list[str]:
    """Líneas para la consola. En Docker (compose fija LLM_IN_DOCKER) el servidor ya está."""
    url = os.environ.get("PLAYGROUND_URL") or playground_url()
    url = url.replace("://0.0.0.0:", "://127.0.0.1:")  # «todas las interfaces» → esta máquina
    if os.environ.get("LLM_IN_DOCKER") == "1":
        return [
            "Siguiente paso: el contenedor «server» ya sirve este checkpoint.",
            f"  playground: {url}   prueba: make smoke",
        ]
    folder = checkpoint_path.parent
    if sys.platform == "win32":  # sin make ni servidor nativo: docs/windows.md
        return [
            "Siguientes pasos:",
            f'  python -m trainer.generate --ckpt "{folder}"   texto con este modelo '
            '(--prompt "..." para empezar por otro)',
            "  el servidor, con Docker Desktop (docker compose up) o WSL2: docs/windows.md",
        ]
    knobs = "" if model == "gpt" else f" MODEL={model}"
    if os.path.normpath(folder) != os.path.normpath(default_checkpoint_dir(model)):
        knobs = f' CHECKPOINT_DIR="{folder}"'
    return [
        "Siguientes pasos:",
        f'  make generate{knobs}   texto con este modelo (PROMPT="..." para empezar por otro)',
        f"  make serve{knobs}      servirlo; el playground queda en {url}",
    ]


# Sin la velocidad de tqdm («it/s», con punto decimal): la del entrenamiento va en tokens/s,
# escrita aquí a la española.
BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
)


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """La barra del entrenamiento: pasos hechos, pérdida y tokens/s (estos, en el postfijo)."""
    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        desc=TRAINING,
        unit="paso",
        mininterval=0.5,
        dynamic_ncols=True,
        bar_format=BAR_FORMAT,
    )


# Tres pérdidas en pantalla, con tres nombres: se explican una vez, al final.
LOSSES_EXPLAINED = (
    "Las tres pérdidas: la barra da la del último lote de entrenamiento (salta mucho); las "
    "líneas «paso N» la estiman con unos lotes al azar de train y de val; la de validación "
    "exacta, arriba, se mide sobre todo el split de validación y es la que guarda el checkpoint."
)


def step_postfix(loss: float, tokens_per_sec: float) -> str:
    return f"pérdida del lote {fmt_float(loss, 3)} · {fmt_int(tokens_per_sec)} tok/s"


def eval_line(step: int, max_steps: int, losses: dict[str, float], tokens_per_sec: float) -> str:
    return (
        f"paso {fmt_int(step)}/{fmt_int(max_steps)} · pérdida estimada: train "
        f"{fmt_float(losses['train'], 4)} · val {fmt_float(losses['val'], 4)} · "
        f"{fmt_int(tokens_per_sec)} tokens/s"
    )


def token_unit(s: TrainSettings) -> str:
    return "tokens BPE" if s.tokenizer == "bpe" else "caracteres"


def start_lines(
    s: TrainSettings,
    params: int,
    device: object,
    data: TextDataset,
    ckpt_path: Path,
    precision: str,
    threads: str | None,
    processes: tuple[int, str] | None,
    resumed: tuple[int, Path] | None,
) -> list[str]:
    """Las líneas del registro al empezar: qué se entrena, dónde se guarda y cómo se calcula."""
    lines = [
        f"Entrenando '{s.model}' ({fmt_int(params)} parámetros) en "
        f"{device} con '{s.data}' ({fmt_int(len(data.train))} {token_unit(s)} de "
        f"entrenamiento, {fmt_int(len(data.val))} de validación, vocabulario de "
        f"{data.tokenizer.vocab_size}).",
        f"Checkpoints en {ckpt_path} (cada {fmt_int(s.eval_interval)} pasos y al terminar).",
        f"Precisión: {precision}.",
    ]
    if threads is not None:
        lines.append(f"Hilos: {threads}")
    if processes is not None:  # con torchrun: cuántos procesos y con qué backend
        n, backend = processes
        lines.append(
            f"{n} procesos ({backend}): lote efectivo de {n} × {s.batch_size} × "
            f"{s.grad_accum} = {n * s.batch_size * s.grad_accum} secuencias por paso."
        )
    if resumed is not None:
        lines.append(f"Reanudando desde el paso {resumed[0]} de '{resumed[1]}'.")
    return lines


def print_summary(result: TrainResult, model: str) -> None:
    """El resumen del final (o cómo continuar, si se interrumpió) y las órdenes para seguir."""
    minutes, seconds = divmod(result.seconds, 60)
    if result.interrupted:
        print(
            f"Entrenamiento interrumpido en el paso {fmt_int(result.step)}. Checkpoint guardado "
            f"en {result.checkpoint_path}. Continúa con: "
            f"python -m trainer --resume {result.checkpoint_path}"
        )
        return
    val = fmt_float(result.val_loss, 4) if result.val_loss is not None else "?"
    print("Resumen del entrenamiento")
    if result.chars_per_token is not None and result.chars_per_token != 1:
        # BPE: la pérdida es por token; los bits por carácter se comparan con los de caracteres.
        print(f"  pérdida de validación exacta: {val} nats/token")
        print(f"  bits por carácter: {fmt_float(result.bits_per_char or 0, 4)}")
        print(f"  caracteres por token: {fmt_float(result.chars_per_token)}")
    else:
        print(f"  pérdida de validación exacta: {val} nats/carácter")
    print(f"  pasos: {fmt_int(result.step)}")
    print(f"  tiempo: {int(minutes)} min {fmt_float(seconds, 1)} s")
    print(f"  velocidad: {fmt_int(result.tokens_per_second)} tokens/s")
    print(f"  checkpoint: {result.checkpoint_path}")
    print(LOSSES_EXPLAINED)
    print()
    for line in next_steps(model, result.checkpoint_path):
        print(line)
