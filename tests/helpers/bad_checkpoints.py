"""Checkpoints que se dejan leer pero traen datos inválidos: la misma tabla para la CLI y el
servidor, que deben rechazarlos igual (mismo motivo, código 3 en la CLI, el modelo anterior
sigue sirviendo en el servidor)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Raw = dict[str, Any]


def _set(key: str, value: Any) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        raw[key] = value

    return mutate


def _surrogate_vocab(raw: Raw) -> None:
    raw["vocab"]["chars"][-1] = "\ud800"


def _nan_weight(raw: Raw) -> None:
    raw["state_dict"]["pos_emb.weight"][0, 0] = float("nan")


def _double_weight(raw: Raw) -> None:
    raw["state_dict"]["ln_f.weight"] = raw["state_dict"]["ln_f.weight"].double()


def _huge_block(raw: Raw) -> None:
    # Un fichero pequeño que pide una máscara causal de 2**40 bytes (1,1 TB) por bloque.
    raw["model_config"]["block_size"] = 2**20


def _optimizer_shape(raw: Raw) -> None:
    state = raw["train_state"]["optimizer"]["state"]
    first = next(iter(state))
    state[first]["exp_avg"] = torch.zeros(3)


def _bad_rng(raw: Raw) -> None:
    raw["train_state"]["rng"]["batches"] = torch.zeros(7, dtype=torch.uint8)


def _dropout_text(raw: Raw) -> None:
    raw["model_config"]["dropout"] = "0.1"


# (nombre del fichero, cambio, texto que debe aparecer en el motivo)
BAD_CHECKPOINTS: list[tuple[str, Callable[[Raw], None], str]] = [
    ("val-loss-texto.pt", _set("val_loss", "abc"), "val_loss debe ser un número finito"),
    ("val-loss-nan.pt", _set("val_loss", float("nan")), "val_loss debe ser un número finito"),
    ("vocab-sustituto.pt", _surrogate_vocab, "sustitutos sueltos"),
    ("step-texto.pt", _set("step", "abc"), "step debe ser un entero ≥ 0 (tiene 'abc')"),
    ("train-state-x.pt", _set("train_state", "x"), "train_state debe ser un diccionario"),
    ("run-name-numero.pt", _set("run_name", 5), "run_name debe ser texto"),
    ("peso-nan.pt", _nan_weight, "el peso pos_emb.weight contiene NaN"),
    ("peso-float64.pt", _double_weight, "ln_f.weight es torch.float64"),
    ("dropout-texto.pt", _dropout_text, "dropout debe ser un número"),
    ("optimizador-forma.pt", _optimizer_shape, "train_state.optimizer.state["),
    ("rng-roto.pt", _bad_rng, "train_state.rng.batches no es un estado de generador"),
    ("block-enorme.pt", _huge_block, "necesitaría unos 1,1 TB"),
]


def write_bad_checkpoints(good: Path, directory: Path) -> list[Path]:
    """Escribe en ``directory`` una variante inválida de ``good`` por cada fila de la tabla."""
    raw = torch.load(good, weights_only=True)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, mutate, _ in BAD_CHECKPOINTS:
        bad = copy.deepcopy(raw)
        mutate(bad)
        tmp = directory / f".{name}.escribiendo"
        torch.save(bad, tmp)
        tmp.rename(directory / name)  # de una vez: el servidor nunca ve un fichero a medias
        paths.append(directory / name)
    return paths
