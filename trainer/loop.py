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
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from shared.checkpoints.files import Checkpoint, clean_stale_temp_files, save_checkpoint
from shared.checkpoints.models import build_model
from shared.checkpoints.shapes import count_parameters
from shared.common.device import resolve_device
from shared.common.memory_estimate import check_fits, estimate_training
from shared.config import ModelConfig
from trainer import distributed
from trainer.data import TextDataset, get_batch
from trainer.errors import SaveError, describe_os_error, find_os_error, save_error
from trainer.evaluation import estimate_loss, evaluate_ids
from trainer.memory import keep_freed_memory
from trainer.metrics import MetricsLog
from trainer.numbers import fmt_float, fmt_int
from trainer.precision import (
    autocast_context,
    check_compiler,
    choose_attention,
    describe_dtype,
    fused_adamw,
    resolve_dtype,
)
from trainer.resume import ResumeState, restore_rng, rng_state
from trainer.schedule import default_warmup, lr_at
from trainer.settings import TrainSettings
from trainer.threads import ThreadTuner, describe_threads, tuner_for

# Lo que dice la barra de progreso en cada momento.
TRAINING = "entrenando"
EVALUATING = "evaluando…"
FINAL_EVALUATION = "evaluación final…"  # exacta, sobre todo el split de validación

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


class Trainer:
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
        torch.manual_seed(s.seed)
        tokenizer = self.resume.checkpoint.tokenizer if self.resume else None
        self.data = TextDataset.from_file(s.data, s.block_size, tokenizer)
        if self.resume:
            config = self.resume.checkpoint.config
        else:
            config = s.model_config(self.data.tokenizer.vocab_size)
        self._check_memory(config)
        if self.dist.is_main:  # temporales de un guardado que un SIGKILL dejó a medias
            clean_stale_temp_files(s.checkpoint_dir)
        if self.resume:
            self.model = self.resume.checkpoint.build_model(self.device)
        else:
            self.model = build_model(s.model, config).to(self.device)
        self.model.train()
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
            self.optimizer.load_state_dict(self.resume.optimizer_state)
            self.start_step = self.resume.checkpoint.step
            self.last_val = self.resume.checkpoint.val_loss
            self.last_train = self.resume.checkpoint.train_loss
            self._restore_rng(self.resume.rng)
        elif self.dist.rank > 0:
            # Dropout distinto en cada rank (los pesos iniciales ya son iguales: mismo seed).
            torch.manual_seed(distributed.batch_seed(s.seed, self.dist.rank))
        self.train_model: torch.nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.forward_model: Callable = self.train_model
        if s.compile:
            self.forward_model = torch.compile(self.train_model)
        self.warmup = s.warmup_steps if s.warmup_steps is not None else default_warmup(s.max_steps)
        self.ckpt_path = Path(s.checkpoint_dir) / f"{s.run_name}.pt"
        self.metrics = MetricsLog(
            Path(s.checkpoint_dir) / f"{s.run_name}.metrics.jsonl", enabled=self.dist.is_main
        )
        self.saved_step: int | None = None
        self.threads = tuner_for(self.device, self.dist.enabled)
        if not self.resume:
            # Un entrenamiento nuevo no hereda las líneas de otro que se llamara igual.
            self._write_metrics(self.metrics.reset)

    def _check_memory(self, config: ModelConfig) -> None:
        """Antes de reservar nada: pesos, gradientes, AdamW y activaciones del lote, ¿caben?"""
        # La atención explícita y la de bf16 en CPU crean las matrices T×T; sdpa en GPU, no.
        sdpa_on_gpu = getattr(config, "attention", "") == "sdpa" and self.device.type == "cuda"
        estimate = estimate_training(config, self.s.batch_size, attention_matrices=not sdpa_on_gpu)
        check_fits(estimate, self.device, f"entrenar con --batch-size {self.s.batch_size}")

    def _restore_rng(self, state: dict[str, Any]) -> None:
        """Cada rank recupera sus generadores (lotes y dropout) tal como estaban al guardar."""
        per_rank = state.get("per_rank") or [state]
        if self.dist.rank < len(per_rank):
            restore_rng(per_rank[self.dist.rank], self.batch_gen)
            return
        # Más procesos que al guardar: este rank empieza secuencias nuevas, distintas de las demás.
        seed = distributed.batch_seed(self.s.seed + self.start_step, self.dist.rank)
        self.batch_gen.manual_seed(seed)
        torch.manual_seed(seed)

    def _save(self, step: int) -> Path:
        """Todos los ranks llaman aquí (para juntar sus generadores); solo el 0 escribe."""
        rng = rng_state(self.batch_gen)
        per_rank = distributed.gather_objects(self.dist, rng)
        if not self.dist.is_main:
            return self.ckpt_path
        if self.dist.enabled:
            rng = {**rng, "per_rank": per_rank}  # "torch" y "batches" del rank 0, como siempre
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
        try:
            path = save_checkpoint(ckpt, self.ckpt_path)
        except (OSError, RuntimeError) as exc:
            os_error = find_os_error(exc)
            if os_error is None:
                raise
            resumed = self.resume.path if self.resume is not None else None
            raise save_error(step, os_error, self.ckpt_path, self.saved_step, resumed) from exc
        self.saved_step = step
        return path

    def _evaluate(self, step: int, tokens_per_sec: float) -> None:
        """Solo en el rank 0: los demás esperan en la siguiente sincronización de DDP."""
        s = self.s
        if not self.dist.is_main:
            return
        with autocast_context(self.device, self.dtype):
            losses = estimate_loss(
                self.model,
                {"train": self.data.train, "val": self.data.val},
                s.batch_size,
                s.block_size,
                s.eval_iters,
                s.seed,
                self.device,
            )
        self.last_train, self.last_val = losses["train"], losses["val"]
        self._write_metrics(
            self.metrics.write,
            step=step,
            train_loss=round(losses["train"], 5),
            val_loss=round(losses["val"], 5),
            lr=lr_at(step - 1, s.learning_rate, self.warmup, s.max_steps),
            tokens_per_sec=round(tokens_per_sec, 1),
            threads=torch.get_num_threads(),
            **(self.threads.stats() if self.threads is not None else {}),
        )
        self.log(
            f"paso {fmt_int(step)}/{fmt_int(s.max_steps)} · pérdida train "
            f"{fmt_float(losses['train'], 4)} · val {fmt_float(losses['val'], 4)} · "
            f"{fmt_int(tokens_per_sec)} tokens/s"
        )

    def _write_metrics(self, fn: Callable[..., None], **record: Any) -> None:
        try:
            fn(**record)
        except OSError as exc:
            raise SaveError(
                f"no se pudo escribir las métricas en '{self.metrics.path}': "
                f"{describe_os_error(exc)}. Los checkpoints ya guardados siguen intactos."
            ) from exc

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
        s = self.s
        n_params = count_parameters(self.model.config)
        self.log(
            f"Entrenando '{s.model}' ({fmt_int(n_params)} parámetros) en "
            f"{self.device} con '{s.data}' ({fmt_int(len(self.data.train))} caracteres de "
            f"entrenamiento, {fmt_int(len(self.data.val))} de validación, vocabulario de "
            f"{self.data.tokenizer.vocab_size})."
        )
        self.log(
            f"Checkpoints en {self.ckpt_path} "
            f"(cada {fmt_int(s.eval_interval)} pasos y al terminar)."
        )
        self.log(f"Precisión: {describe_dtype(self.dtype, self.device, s.dtype)}.")
        if self.device.type == "cpu":
            self.log(f"Hilos: {describe_threads(self.threads)}")
        if self.dist.enabled:
            n = self.dist.world_size
            self.log(
                f"{n} procesos ({self.dist.backend}): lote efectivo de {n} × {s.batch_size} × "
                f"{s.grad_accum} = {n * s.batch_size * s.grad_accum} secuencias por paso."
            )
        if self.start_step:
            self.log(
                f"Reanudando desde el paso {self.start_step} de '{self.resume.path}'."  # type: ignore[union-attr]
            )

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
        bar = tqdm(
            total=s.max_steps,
            initial=step,
            disable=not self.progress,
            desc=TRAINING,
            unit="paso",
            mininterval=0.5,
            dynamic_ncols=True,
            # Sin la velocidad de tqdm («it/s», con punto decimal): ya va en tokens/s, en español.
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed}<{remaining}{postfix}]",
        )
        self.bar = bar
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
            bar.set_postfix_str(f"pérdida {fmt_float(loss, 3)} · {fmt_int(tps)} tok/s", False)
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
                exact = evaluate_ids(self.model, self.data.val, self.device)
            self.last_val = exact.loss
        bar.close()
        path = self._save(step)
        if self.dist.is_main:
            self._write_metrics(
                self.metrics.write, step=step, val_loss_exact=round(exact.loss, 5), final=True
            )
        distributed.barrier(self.dist)
        return TrainResult(
            path, step, self.last_train, self.last_val, time.perf_counter() - t_start, tps, False
        )

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
