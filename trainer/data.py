"""Carga del texto, división train/val y lotes aleatorios."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from shared.bpe_tokenizer import BPETokenizer
from shared.checkpoints.models import Tokenizer
from shared.common.errors import DataError
from shared.tokenizer import CharTokenizer

VAL_FRACTION = 0.1


def read_text(path: str | Path) -> str:
    """Lee un fichero de texto UTF-8 con mensajes claros para cada fallo típico."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no existe el fichero de datos '{path}'.")
    if not path.is_file():
        raise DataError(f"'{path}' no es un fichero.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"no se puede leer '{path}': {exc.strerror}.") from exc
    if not raw.strip():
        raise DataError(f"el fichero de datos '{path}' está vacío.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"'{path}' no es texto UTF-8 válido (byte inválido en la posición {exc.start}). "
            "Conviértelo, por ejemplo: iconv -f latin1 -t utf-8 entrada.txt > salida.txt"
        ) from exc
    return text.removeprefix("\ufeff")  # ignoramos la marca BOM de algunos editores


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_text(text: str, val_fraction: float = VAL_FRACTION) -> tuple[str, str]:
    """La misma división sobre el texto: con caracteres da los mismos ids que ``split_ids``."""
    n = int(len(text) * (1 - val_fraction))
    return text[:n], text[n:]


def build_tokenizer(kind: str, text: str, vocab_size: int) -> Tokenizer:
    """El tokenizador de un entrenamiento nuevo.

    Caracteres: los de todo el texto (como siempre). BPE: las fusiones se aprenden solo del
    split de entrenamiento, para que la validación mida texto que el tokenizador no ha visto.
    """
    if kind == "bpe":
        return BPETokenizer.train(split_text(text)[0], vocab_size)
    return CharTokenizer.from_text(text)


def split_ids(ids: torch.Tensor, val_fraction: float = VAL_FRACTION) -> tuple[torch.Tensor, ...]:
    """División determinista: el primer 90 % para entrenar y el último 10 % para validar."""
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


@dataclass
class TextDataset:
    """El corpus entero como un tensor de ids; los lotes se sacan por indexación."""

    tokenizer: Tokenizer
    train: torch.Tensor
    val: torch.Tensor
    sha256: str
    path: str
    # Los caracteres de validación que se predicen (todos menos el primer token): con ellos,
    # la pérdida por token se convierte en bits por carácter (trainer/loss_measurement.py).
    val_chars: int = 0

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        block_size: int,
        tokenizer: Tokenizer | None = None,
        kind: str = "char",
        vocab_size: int = 0,
    ) -> TextDataset:
        """El texto tokenizado con ``tokenizer`` (al reanudar) o con uno nuevo de tipo ``kind``.

        Se divide el texto y luego se codifica cada parte: un token BPE nunca cruza la frontera
        entre entrenamiento y validación (con caracteres es lo mismo que dividir los ids)."""
        text = read_text(path)
        tokenizer = tokenizer or build_tokenizer(kind, text, vocab_size)
        train_text, val_text = split_text(text)
        train = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
        val = torch.tensor(tokenizer.encode(val_text), dtype=torch.long)
        needed = block_size + 2
        if len(val) < needed:
            unit = "caracteres" if isinstance(tokenizer, CharTokenizer) else "tokens"
            raise DataError(
                f"el texto de '{path}' es demasiado corto: tiene {len(train) + len(val)} {unit} "
                f"y la validación (10 %) necesita al menos {needed} con block_size={block_size}. "
                f"Usa un texto de al menos {needed * 10} {unit} o un --block-size menor."
            )
        val_chars = len(val_text) - len(tokenizer.decode(val[:1].tolist()))
        return cls(tokenizer, train, val, sha256_text(text), str(path), val_chars)

    def split(self, name: str) -> torch.Tensor:
        return self.train if name == "train" else self.val


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lote aleatorio: x son ``block_size`` caracteres seguidos; y, los mismos desplazados uno."""
    starts = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets]
    y = data[starts[:, None] + offsets + 1]
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(
            device, non_blocking=True
        )
    return x.to(device), y.to(device)
