"""El bucle de entrenamiento: lotes → pérdida → gradientes → AdamW, con evaluación y checkpoints."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from shared.checkpoint import Checkpoint, save_checkpoint
from shared.device import resolve_device
from shared.models import build_model, count_params
from trainer.data import TextDataset, get_batch
from trainer.evaluation import estimate_loss, evaluate_ids
from trainer.metrics import MetricsLog
from trainer.resume import ResumeState, restore_rng, rng_state
from trainer.schedule import default_warmup, lr_at
from trainer.settings import TrainSettings

BETAS = (0.9, 0.99)  # beta2 algo menor que 0.999: más estable con lotes pequeños


@dataclass
class TrainResult:
    checkpoint_path: Path
    step: int
    train_loss: float | None
    val_loss: float | None  # exacta sobre todo el split de validación
    seconds: float
    tokens_per_second: float
    interrupted: bool


def autocast_context(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Trainer:
    def __init__(
        self,
        settings: TrainSettings,
        resume: ResumeState | None = None,
        should_stop: Callable[[int], bool] = lambda step: False,
        log: Callable[[str], None] = print,
        progress: bool = True,
    ) -> None:
        self.s = settings
        self.resume = resume
        self.should_stop = should_stop
        self.log = log
        self.progress = progress
        self.device = resolve_device(settings.device)

    def _setup(self) -> None:
        s = self.s
        torch.manual_seed(s.seed)
        tokenizer = self.resume.checkpoint.tokenizer if self.resume else None
        self.data = TextDataset.from_file(s.data, s.block_size, tokenizer)
        if self.resume:
            self.model = self.resume.checkpoint.build_model(self.device)
        else:
            config = s.model_config(self.data.tokenizer.vocab_size)
            self.model = build_model(s.model, config).to(self.device)
        self.model.train()
        self.optimizer = self.model.configure_optimizers(
            s.decay, s.learning_rate, BETAS, self.device.type
        )
        self.batch_gen = torch.Generator().manual_seed(s.seed)
        self.start_step = 0
        self.last_val: float | None = None
        self.last_train: float | None = None
        if self.resume:
            self.optimizer.load_state_dict(self.resume.optimizer_state)
            self.start_step = self.resume.checkpoint.step
            self.last_val = self.resume.checkpoint.val_loss
            self.last_train = self.resume.checkpoint.train_loss
            restore_rng(self.resume.rng, self.batch_gen)
        self.forward_model: Callable = self.model
        if s.compile:
            self.forward_model = torch.compile(self.model)
        self.warmup = s.warmup_steps if s.warmup_steps is not None else default_warmup(s.max_steps)
        self.ckpt_path = Path(s.checkpoint_dir) / f"{s.run_name}.pt"
        self.metrics = MetricsLog(Path(s.checkpoint_dir) / f"{s.run_name}.metrics.jsonl")

    def _save(self, step: int) -> Path:
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
                "rng": rng_state(self.batch_gen),
            },
        )
        return save_checkpoint(ckpt, self.ckpt_path)

    def _evaluate(self, step: int, tokens_per_sec: float) -> None:
        s = self.s
        with autocast_context(self.device, s.dtype):
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
        self.metrics.write(
            step=step,
            train_loss=round(losses["train"], 5),
            val_loss=round(losses["val"], 5),
            lr=lr_at(step - 1, s.learning_rate, self.warmup, s.max_steps),
            tokens_per_sec=round(tokens_per_sec, 1),
        )
        self.log(
            f"paso {step}/{s.max_steps} | pérdida train {losses['train']:.4f} | "
            f"val {losses['val']:.4f} | {tokens_per_sec:,.0f} tokens/s"
        )

    def _train_step(self, step: int) -> float:
        s = self.s
        lr = lr_at(step, s.learning_rate, self.warmup, s.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = 0.0
        for _ in range(s.grad_accum):
            x, y = get_batch(
                self.data.train, s.batch_size, s.block_size, self.batch_gen, self.device
            )
            with autocast_context(self.device, s.dtype):
                _, loss = self.forward_model(x, y)
            # Con acumulación, cada microlote aporta 1/grad_accum del gradiente del paso.
            (loss / s.grad_accum).backward()
            total += float(loss.detach()) / s.grad_accum
        if s.grad_clip > 0:
            # Recortar la norma del gradiente evita que un lote raro desestabilice el modelo.
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def run(self) -> TrainResult:
        self._setup()
        s = self.s
        self.log(
            f"Entrenando '{s.model}' ({count_params(self.model):,} parámetros) en {self.device} "
            f"con '{s.data}' ({len(self.data.train):,} caracteres de entrenamiento, "
            f"{len(self.data.val):,} de validación, vocabulario de "
            f"{self.data.tokenizer.vocab_size})."
        )
        if self.start_step:
            self.log(f"Reanudando desde el paso {self.start_step}.")
        tokens_per_step = s.batch_size * s.block_size * s.grad_accum
        train_seconds = 0.0
        tokens_done = 0
        interrupted = False
        step = self.start_step
        bar = tqdm(
            total=s.max_steps,
            initial=step,
            disable=not self.progress,
            desc="entrenando",
            unit="paso",
            mininterval=0.5,
            dynamic_ncols=True,
        )
        t_start = time.perf_counter()
        while step < s.max_steps:
            if self.should_stop(step):
                interrupted = True
                break
            t0 = time.perf_counter()
            loss = self._train_step(step)
            if not math.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"la pérdida dejó de ser finita en el paso {step + 1}.")
            train_seconds += time.perf_counter() - t0
            tokens_done += tokens_per_step
            step += 1
            tps = tokens_done / train_seconds if train_seconds else 0.0
            bar.set_postfix_str(f"pérdida {loss:.3f} | {tps:,.0f} tok/s", refresh=False)
            bar.update(1)
            if step % s.eval_interval == 0 or step == s.max_steps:
                self._evaluate(step, tps)
                self._save(step)
        bar.close()
        tps = tokens_done / train_seconds if train_seconds else 0.0
        if interrupted:
            path = self._save(step)
            return TrainResult(
                path, step, self.last_train, self.last_val, time.perf_counter() - t_start, tps, True
            )
        # Pérdida exacta al final, sobre todo el split de validación.
        with autocast_context(self.device, s.dtype):
            exact = evaluate_ids(self.model, self.data.val, self.device)
        self.last_val = exact.loss
        path = self._save(step)
        self.metrics.write(step=step, val_loss_exact=round(exact.loss, 5), final=True)
        return TrainResult(
            path, step, self.last_train, exact.loss, time.perf_counter() - t_start, tps, False
        )
