"""El bucle de entrenamiento: lotes → pérdida → gradientes → AdamW, con evaluación y checkpoints.

Funciona igual con un proceso que con varios bajo torchrun (ver ``trainer/distributed.py``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from shared.checkpoints.files import Checkpoint
from shared.checkpoints.shapes import count_parameters
from shared.common.device import resolve_device
from trainer import console, distributed
from trainer.console import EVALUATING, FINAL_EVALUATION, TRAINING
from trainer.cpu_tuning import ThreadTuner, describe_threads, keep_freed_memory, tuner_for
from trainer.data import get_batch
from trainer.loss_measurement import estimate_loss, evaluate_ids
from trainer.lr_schedule import default_warmup, lr_at
from trainer.metrics_log import MetricsLog
from trainer.precision import (
    autocast_context,
    check_compiler,
    choose_attention,
    describe_dtype,
    fused_adamw,
    resolve_dtype,
)
from trainer.run_files import CheckpointWriter, ResumeState, gather_rng, run_files
from trainer.run_setup import load_data_and_model
from trainer.settings import TrainSettings

BETAS = (0.9, 0.99)  # beta2 algo menor que 0.999: más estable con lotes pequeños

__all__ = ["Trainer", "TrainResult", "autocast_context"]


@dataclass
class TrainResult:
    checkpoint_path: Path
    step: int
    train_loss: float | None
    val_loss: float | None  # exacta sobre todo el split de validación
    seconds: float
    tokens_per_second: float
    interrupted: bool
    # De la evaluación exacta final (None si se interrumpió): comparables entre tokenizadores.
    bits_per_char: float | None = None
    chars_per_token: float | None = None


class Trainer:
    """Un entrenamiento: ``run()`` da los pasos, evalúa, guarda y devuelve un ``TrainResult``.

    Con torchrun, cada proceso crea el suyo; el rank 0 escribe el registro y los ficheros."""

    def __init__(
        self,
        settings: TrainSettings,
        resume: ResumeState | None = None,
        should_stop: Callable[[int], bool] = lambda step: False,
        log: Callable[[str], None] = tqdm.write,  # por encima de la barra, sin pegarse a ella
        progress: bool = True,
    ) -> None:
        self.s = settings
        self.resume = resume
        self.should_stop = should_stop
        self.log = log
        self.progress = progress
        # Una sola vez: un dispositivo que no existe falla aquí, antes de leer nada.
        self.device = resolve_device(settings.device)
        self.dist = distributed.DistContext()
        self.threads: ThreadTuner | None = None

    def _setup(self) -> None:
        s = self.s
        self.dist, self.device = distributed.setup(self.device)  # con torchrun, la GPU del rank
        if not self.dist.is_main:
            self.log = lambda message: None
            self.progress = False
        # El nombre por defecto lleva la hora: todos los ranks usan el del rank 0.
        s.run_name = str(distributed.broadcast_object(self.dist, s.run_name))
        self.dtype = resolve_dtype(s.dtype, self.device)
        if self.device.type == "cpu":
            keep_freed_memory()
        if s.compile:
            check_compiler()
        self.data, self.model = load_data_and_model(s, self.resume, self.device, self.dist)
        choose_attention(self.model, self.device, self.dtype)
        self.optimizer = torch.optim.AdamW(
            self.model.optimizer_groups(s.decay),
            lr=s.learning_rate,
            betas=BETAS,
            fused=fused_adamw(self.model, self.device),
        )
        # Cada rank saca lotes distintos; el rank 0, los mismos que un solo proceso.
        self.batch_gen = torch.Generator().manual_seed(
            distributed.batch_seed(s.seed, self.dist.rank)
        )
        self.start_step = 0
        self.last_val: float | None = None
        self.last_train: float | None = None
        if self.resume:
            self.resume.restore(self.optimizer, self.batch_gen, self.dist.rank, s.seed)
            self.start_step = self.resume.checkpoint.step
            self.last_val = self.resume.checkpoint.val_loss
            self.last_train = self.resume.checkpoint.train_loss
        elif self.dist.rank > 0:
            # Dropout distinto en cada rank (los pesos iniciales ya son iguales: mismo seed).
            torch.manual_seed(distributed.batch_seed(s.seed, self.dist.rank))
        self.train_model = distributed.wrap_model(self.dist, self.model, self.device)
        self.forward_model: Callable = self.train_model
        if s.compile:
            self.forward_model = torch.compile(self.train_model)
        self.warmup = s.warmup_steps if s.warmup_steps is not None else default_warmup(s.max_steps)
        self.ckpt_path, metrics_path = run_files(s.checkpoint_dir, s.run_name)
        self.metrics = MetricsLog(metrics_path, enabled=self.dist.is_main)
        self.writer = CheckpointWriter(self.ckpt_path, self.resume.path if self.resume else None)
        self.threads = tuner_for(self.device, self.dist.enabled)
        if not self.resume:
            # Un entrenamiento nuevo no hereda las líneas de otro que se llamara igual.
            self.metrics.reset()

    def _save(self, step: int) -> Path:
        """Todos los ranks llaman aquí (para juntar sus generadores); solo el 0 escribe."""
        rng = gather_rng(self.dist, self.batch_gen)
        if rng is None:
            return self.ckpt_path
        ckpt = Checkpoint(
            model_type=self.s.model,
            config=self.model.config,
            tokenizer=self.data.tokenizer,
            state_dict={k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            step=step,
            train_loss=self.last_train,
            val_loss=self.last_val,
            data_sha256=self.data.sha256,
            data_path=self.data.path,
            run_name=self.s.run_name,
            train_state={
                "settings": self.s.to_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": rng,
                "world_size": self.dist.world_size,
            },
        )
        return self.writer.save(ckpt)

    def _evaluate(self, step: int, tokens_per_sec: float) -> None:
        """Solo en el rank 0: los demás esperan en la siguiente sincronización de DDP."""
        s = self.s
        if not self.dist.is_main:
            return
        with autocast_context(self.device, self.dtype):
            splits = {"train": self.data.train, "val": self.data.val}
            losses = estimate_loss(
                self.model, splits, s.batch_size, s.block_size, s.eval_iters, s.seed, self.device
            )
        self.last_train, self.last_val = losses["train"], losses["val"]
        self.metrics.write(
            step=step,
            train_loss=round(losses["train"], 5),
            val_loss=round(losses["val"], 5),
            lr=lr_at(step - 1, s.learning_rate, self.warmup, s.max_steps),
            tokens_per_sec=round(tokens_per_sec, 1),
            threads=torch.get_num_threads(),
            **(self.threads.stats() if self.threads is not None else {}),
        )
        self.log(console.eval_line(step, s.max_steps, losses, tokens_per_sec))

    def _train_step(self, step: int) -> float:
        s = self.s
        lr = lr_at(step, s.learning_rate, self.warmup, s.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = torch.zeros((), device=self.device)
        for micro in range(s.grad_accum):
            x, y = get_batch(
                self.data.train, s.batch_size, s.block_size, self.batch_gen, self.device
            )
            # Con DDP, los gradientes solo se promedian entre ranks en el último microlote.
            last = micro == s.grad_accum - 1
            sync = contextlib.nullcontext()
            if self.dist.enabled and not last:
                sync = self.train_model.no_sync()  # type: ignore[operator]
            with sync:
                with autocast_context(self.device, self.dtype):
                    _, loss = self.forward_model(x, y)
                # Con acumulación, cada microlote aporta 1/grad_accum del gradiente del paso.
                (loss / s.grad_accum).backward()
            total += loss.detach() / s.grad_accum
        if s.grad_clip > 0:
            # Recortar la norma del gradiente evita que un lote raro desestabilice el modelo.
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(total)  # una sola sincronización con la GPU por paso

    def _announce(self) -> None:
        resumed = (self.start_step, self.resume.path) if self.start_step and self.resume else None
        for line in console.start_lines(
            self.s,
            count_parameters(self.model.config),
            self.device,
            self.data,
            self.ckpt_path,
            describe_dtype(self.dtype, self.device, self.s.dtype),
            describe_threads(self.threads) if self.device.type == "cpu" else None,
            (self.dist.world_size, self.dist.backend) if self.dist.enabled else None,
            resumed,
        ):
            self.log(line)

    def run(self) -> TrainResult:
        self.bar: tqdm | None = None
        try:
            return self._run()
        finally:
            if self.bar is not None:
                self.bar.close()  # también si un error corta el bucle: que no quede a medias
            distributed.teardown(self.dist)

    def _run(self) -> TrainResult:
        self._setup()
        self._announce()
        s = self.s
        tokens_per_step = s.batch_size * s.block_size * s.grad_accum * self.dist.world_size
        train_seconds = 0.0
        tokens_done = 0
        interrupted = False
        step = self.start_step
        self.bar = bar = console.progress_bar(s.max_steps, step, self.progress)
        t_start = time.perf_counter()
        # Con varios procesos, la parada se acuerda tras cada paso (ver step_consensus).
        stop_agreed = not self.dist.enabled and self.should_stop(step)
        while step < s.max_steps:
            if stop_agreed:
                interrupted = True
                break
            t0 = time.perf_counter()
            loss = self._train_step(step)
            step += 1
            stop_local = self.should_stop(step)
            loss, stop_agreed = distributed.step_consensus(self.dist, loss, stop_local, self.device)
            if not math.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"la pérdida dejó de ser finita en el paso {step}.")
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            if self.threads is not None:
                self.threads.observe(seconds)  # ¿otro número de hilos iría más rápido?
            tokens_done += tokens_per_step
            tps = tokens_done / train_seconds if train_seconds else 0.0
            bar.set_postfix_str(console.step_postfix(loss, tps), False)
            bar.update(1)
            if step % s.eval_interval == 0 or step == s.max_steps:
                bar.set_description_str(EVALUATING)  # la evaluación tarda: que se vea
                self._evaluate(step, tps)
                self._save(step)
                bar.set_description_str(TRAINING)
        tps = tokens_done / train_seconds if train_seconds else 0.0
        if interrupted:
            bar.close()
            path = self._save(step)
            return TrainResult(
                path, step, self.last_train, self.last_val, time.perf_counter() - t_start, tps, True
            )
        if self.dist.is_main:
            # Pérdida exacta al final, sobre todo el split de validación.
            bar.set_description_str(FINAL_EVALUATION)
            with autocast_context(self.device, self.dtype):
                exact = evaluate_ids(
                    self.model, self.data.val, self.device, chars=self.data.val_chars
                )
            self.last_val = exact.loss
        bar.close()
        path = self._save(step)
        if self.dist.is_main:
            self.metrics.write(step=step, val_loss_exact=round(exact.loss, 5), final=True)
        distributed.barrier(self.dist)
        seconds = time.perf_counter() - t_start
        result = TrainResult(path, step, self.last_train, self.last_val, seconds, tps, False)
        if self.dist.is_main:
            result.bits_per_char = exact.bits_per_char
            result.chars_per_token = exact.chars_per_token
        return result

    def timed_steps(self, steps: int) -> Iterator[tuple[float, float]]:
        """Prepara el entrenamiento y da ``steps`` pasos sin evaluar ni guardar.

        Devuelve (pérdida, segundos) de cada paso; el paso acaba leyendo la pérdida, así que
        con GPU el tiempo ya incluye esperarla. Es lo que mide ``python -m bench``: el mismo paso
        que da ``run()``, con un número fijo de hilos (el ajuste de hilos de ``run()`` se mide
        aparte, en la fila «CPU ocupada» del benchmark).
        """
        self._setup()
        for step in range(steps):
            t0 = time.perf_counter()
            loss = self._train_step(step)
            yield loss, time.perf_counter() - t0
