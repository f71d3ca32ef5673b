"""``python -m trainer``: la CLI de entrenamiento."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from dataclasses import Field
from pathlib import Path
from types import FrameType
from typing import Any

from shared.common.argparse_es import SpanishArgumentParser, finite_float
from shared.common.errors import ConfigError
from trainer.console import print_summary
from trainer.distributed import env_world_size, is_main_process, rescale_grad_accum
from trainer.errors import OutputDirError, run_cli
from trainer.loop import Trainer
from trainer.run_files import ResumeState, find_resume_checkpoint, load_resume_state, place_run
from trainer.settings import (
    RESUME_OVERRIDABLE,
    Option,
    TrainSettings,
    default_checkpoint_dir,
    settings_fields,
    shown_default,
    value_type,
)

# Flags de la CLI que no son ajustes del entrenamiento (no se guardan en el checkpoint).
CLI_ONLY = ("no_progress", "overwrite")


def add_setting(p: argparse.ArgumentParser, f: Field[Any], opt: Option) -> None:
    """Un flag por ajuste, con la ayuda y el valor por defecto de su declaración."""
    shown = shown_default(f, opt)
    help_text = opt.help if shown is None else f"{opt.help} (por defecto: {shown})"
    # Sin valor por defecto en argparse: así sabemos qué flags escribió el usuario (al reanudar
    # mandan los ajustes guardados); el valor por defecto lo pone TrainSettings.
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text}
    kind = value_type(f)
    if kind is bool:
        kwargs["action"] = "store_true"
    else:
        # Los números con decimales, finitos: nan o inf se rechazan al momento.
        kwargs["type"] = {int: int, float: finite_float()}.get(kind)
        if opt.choices is not None:
            kwargs["choices"] = opt.choices
        if opt.metavar is not None:
            kwargs["metavar"] = opt.metavar
        if opt.const is not None:
            kwargs.update(nargs="?", const=opt.const)
    p.add_argument(opt.flag(f.name), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m trainer",
        description="Entrena un modelo de lenguaje a nivel de carácter (bigrama o mini GPT).",
        epilog="Ejemplo: python -m trainer --model gpt --data data/tiny_spanish.txt "
        "--max-steps 2000",
    )
    for f, opt in settings_fields():
        add_setting(p, f, opt)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="permitir reemplazar un entrenamiento que ya existe con ese --run-name "
        "(sin esta opción, es un error)",
    )
    p.add_argument("--no-progress", action="store_true", help="sin barra de progreso")
    return p


def settings_from_args(args: argparse.Namespace) -> tuple[TrainSettings, ResumeState | None]:
    """Los ajustes del entrenamiento y, con --resume, el estado guardado del que continuar."""
    given = {k: v for k, v in vars(args).items() if k not in CLI_ONLY}
    resume = given.get("resume")
    if resume is None:
        settings = TrainSettings(**given)
        place_run(settings, set(given), None, args.overwrite)
        return settings, None
    model = given.get("model", TrainSettings.model)
    checkpoint_dir = given.get("checkpoint_dir", default_checkpoint_dir(model))
    path = find_resume_checkpoint(resume, checkpoint_dir)
    state = load_resume_state(path)
    stored = state.settings
    # Al reanudar manda lo guardado; solo unos pocos ajustes se pueden cambiar.
    ignored = sorted(
        k for k in given if k not in (*RESUME_OVERRIDABLE, "resume") and given[k] != stored.get(k)
    )
    if ignored:
        flags = ", ".join("--" + k.replace("_", "-") for k in ignored)
        print(
            f"aviso: al reanudar se usan los ajustes guardados; se ignora {flags}.", file=sys.stderr
        )
    merged = {**stored, **{k: v for k, v in given.items() if k in RESUME_OVERRIDABLE}}
    merged["resume"] = str(path)
    if "grad_accum" not in given:
        merged["grad_accum"] = keep_effective_batch(state, int(merged.get("grad_accum", 1)))
    settings = TrainSettings.from_dict(merged)
    place_run(settings, set(given), state, args.overwrite)
    return settings, state


def keep_effective_batch(state: ResumeState, grad_accum: int) -> int:
    """Al reanudar con otro número de procesos, ajusta grad_accum para mantener el lote efectivo."""
    stored_world = int(state.checkpoint.train_state.get("world_size", 1))
    world = env_world_size()
    if world == stored_world:
        return grad_accum
    new = rescale_grad_accum(grad_accum, stored_world, world)
    if new is None:
        if is_main_process():
            print(
                f"aviso: el checkpoint se entrenó con {stored_world} procesos y ahora hay {world}; "
                f"ningún --grad-accum entero mantiene el lote efectivo, que pasa de "
                f"{stored_world * grad_accum} a {world * grad_accum} microlotes por paso.",
                file=sys.stderr,
            )
        return grad_accum
    if is_main_process():
        print(
            f"{stored_world} → {world} procesos: --grad-accum {grad_accum} → {new} para mantener "
            f"el lote efectivo ({stored_world * grad_accum} microlotes por paso).",
            file=sys.stderr,
        )
    return new


def check_writable(directory: str) -> None:
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".escritura-{uuid.uuid4().hex}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(
            f"no se puede escribir en el directorio de checkpoints '{directory}': "
            f"{exc.strerror or exc}."
        ) from exc


class StopRequest:
    """SIGTERM (lo que envía `docker stop`) o Ctrl-C: acabar limpio y salir.

    ``message`` dice qué se hace al recibirla; un segundo Ctrl-C sale ya. Con torchrun la señal
    llega a todos los procesos: solo avisa el principal.
    """

    def __init__(self, message: str = "guardando checkpoint…") -> None:
        self.message = message
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # segundo Ctrl-C: salir ya
            raise KeyboardInterrupt
        self.requested = True
        if is_main_process():
            print(
                f"\nseñal {signal.Signals(signum).name} recibida: {self.message}",
                file=sys.stderr,
                flush=True,
            )

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    settings, resume_state = settings_from_args(args)
    settings.validate()
    check_writable(settings.checkpoint_dir)
    stop = StopRequest()
    stop.install()
    trainer = Trainer(
        settings,
        resume=resume_state,
        should_stop=lambda step: stop.requested,
        progress=not args.no_progress and os.environ.get("LLM_NO_PROGRESS") != "1",
    )
    try:
        result = trainer.run()
    except FloatingPointError as exc:
        raise ConfigError(f"{exc} Prueba con un --lr menor.") from exc
    if is_main_process():
        print_summary(result, settings.model)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))
