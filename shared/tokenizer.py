"""Tokenizador a nivel de carácter: cada carácter distinto del texto es un token."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shared.common.errors import TokenizerError


class CharTokenizer:
    """Convierte texto en enteros y enteros en texto, un carácter por token.

    El vocabulario se ordena para que el mismo texto dé siempre los mismos ids.
    """

    def __init__(self, chars: Sequence[str]) -> None:
        if not chars:
            raise TokenizerError("el vocabulario está vacío.")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise TokenizerError("el vocabulario debe contener caracteres sueltos.")
        if any("\ud800" <= c <= "\udfff" for c in chars):
            # Un sustituto suelto no es un carácter: no se puede escribir en UTF-8 ni en JSON.
            raise TokenizerError("el vocabulario contiene sustitutos sueltos (U+D800–U+DFFF).")
        if len(set(chars)) != len(chars):
            raise TokenizerError("el vocabulario tiene caracteres repetidos.")
        self.chars: list[str] = list(chars)
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def unknown_chars(self, text: str) -> list[str]:
        """Caracteres de ``text`` que no están en el vocabulario, en orden de aparición."""
        seen: dict[str, None] = {}
        for c in text:
            if c not in self.stoi:
                seen.setdefault(c, None)
        return list(seen)

    def encode(self, text: str) -> list[int]:
        unknown = self.unknown_chars(text)
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:20])
            more = f" (y {len(unknown) - 20} más)" if len(unknown) > 20 else ""
            raise TokenizerError(
                f"el texto contiene caracteres que no están en el vocabulario del modelo: "
                f"{shown}{more}.",
                unknown_chars=unknown,
            )
        return [self.stoi[c] for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        try:
            return "".join(self.chars[i] for i in ids)
        except IndexError as exc:
            raise TokenizerError("id de token fuera del vocabulario.") from exc

    def token_text(self, token_id: int) -> str:
        """Un token como texto: aquí, su carácter (el tokenizador BPE hace visibles los suyos)."""
        return self.chars[token_id]

    def token_bytes(self, token_id: int) -> bytes:
        """Los bytes UTF-8 de un token: con caracteres, siempre un carácter entero."""
        return self.chars[token_id].encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        if not isinstance(data, dict) or data.get("type") != "char":
            raise TokenizerError("vocabulario con formato desconocido.")
        chars = data.get("chars")
        if not isinstance(chars, list):
            raise TokenizerError("vocabulario sin lista de caracteres.")
        return cls(chars)
