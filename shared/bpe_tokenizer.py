"""Tokenizador BPE a nivel de byte: el paso siguiente a ``tokenizer`` (un token por carácter).

BPE (*byte-pair encoding*) empieza con los 256 valores de un byte y aprende «fusiones»: cuenta
los pares de tokens vecinos, une el más frecuente en un token nuevo y repite hasta llegar al
tamaño de vocabulario pedido. La primera versión que escribe un estudiante recuenta todo el texto
en cada vuelta (está en docs/tokenizador.md); aquí, tras cada fusión, solo se recuentan las
palabras que la contienen, y así 1024 tokens se entrenan en segundos en una CPU.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from shared.common.errors import TokenizerError

# Por qué bytes: cualquier texto Unicode se escribe en UTF-8 como una secuencia de bytes (0–255).
# Con los 256 bytes en el vocabulario desde el principio no hay carácter desconocido, nunca: un
# emoji que no salió en el entrenamiento se codifica igual, con sus 4 bytes sueltos.
BYTES = 256

# Por qué partir el texto antes: sin esto, el par más frecuente podría unir el final de una
# palabra con el principio de la siguiente («a d» de «a de») o una letra con un signo («o,»), y el
# vocabulario se llenaría de trozos que solo sirven en una frase. Se parte en palabras (con su
# espacio delante, como GPT-2), números, signos y espacios; las fusiones nunca cruzan de un trozo
# a otro. ``[^\W\d_]`` son las letras de cualquier idioma; el último espacio de una racha se queda
# para la palabra siguiente (``\s+(?!\S)``). Todo carácter cae en alguna alternativa.
SPLIT = re.compile(r" ?[^\W\d_]+| ?\d+| ?(?:[^\w\s]|_)+|\s+(?!\S)|\s+")

# Un sustituto suelto (U+D800–U+DFFF) cabe en un ``str`` de Python pero no es un carácter: no
# tiene UTF-8, así que no tiene bytes que codificar. Es lo único que este tokenizador rechaza.
SURROGATE = re.compile("[\ud800-\udfff]")

# Cómo se ven en texto los tokens con espacios o controles (la vista de probabilidades).
VISIBLE = {" ": "·", "\n": "↵", "\t": "⇥"}

CACHE_SIZE = 50_000  # trozos ya codificados que se recuerdan (las palabras se repiten mucho)

Pair = tuple[int, int]
INF = float("inf")  # el rango de un par que no es una fusión


def merge_pair(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Sustituye cada aparición de ``pair`` en ``ids``, de izquierda a derecha, por ``new_id``."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def hex_bytes(data: bytes) -> str:
    return "".join(f"<0x{b:02X}>" for b in data)


def check_text(text: str) -> None:
    """Rechaza el texto que no se puede escribir en UTF-8 (sustitutos sueltos)."""
    bad = list(dict.fromkeys(SURROGATE.findall(text)))
    if bad:
        shown = ", ".join(repr(c) for c in bad[:20])
        raise TokenizerError(
            f"el texto contiene sustitutos sueltos (U+D800–U+DFFF), que no son caracteres y no "
            f"tienen UTF-8: {shown}.",
            unknown_chars=bad,
        )


def check_merges(merges: Any) -> list[Pair]:
    """Comprueba una tabla de fusiones leída de fuera (un checkpoint) antes de usarla."""
    if not isinstance(merges, list | tuple):
        raise TokenizerError("la tabla de fusiones BPE no es una lista.")
    size = BYTES + len(merges)
    checked: list[Pair] = []
    seen: set[Pair] = set()
    for i, merge in enumerate(merges):
        new_id = BYTES + i  # el token que crea esta fusión
        if (
            not isinstance(merge, list | tuple)
            or len(merge) != 2
            or any(type(x) is not int for x in merge)
        ):
            raise TokenizerError(f"la fusión {i} no es un par de enteros: {merge!r:.60}.")
        a, b = merge
        for x in (a, b):
            if not 0 <= x < size:
                raise TokenizerError(
                    f"la fusión {i} ({a}, {b}) usa el id {x}, fuera del vocabulario "
                    f"(0 a {size - 1})."
                )
            if x >= new_id:
                raise TokenizerError(
                    f"la fusión {i} ({a}, {b}) usa el token {x}, que aún no existe: lo crea la "
                    f"fusión {x - BYTES}, más adelante."
                )
        if (a, b) in seen:
            raise TokenizerError(f"la fusión {i} ({a}, {b}) está repetida.")
        seen.add((a, b))
        checked.append((a, b))
    return checked


class BPETokenizer:
    """Convierte texto en enteros con fusiones de bytes aprendidas, y enteros en texto.

    Los ids 0–255 son los bytes; el token ``256 + i`` es la fusión ``merges[i]``, la unión de dos
    tokens anteriores. El mismo texto y el mismo tamaño dan siempre las mismas fusiones.
    """

    def __init__(self, merges: Sequence[Sequence[int]]) -> None:
        self.merges: list[Pair] = check_merges(merges)
        self.vocab: list[bytes] = [bytes([b]) for b in range(BYTES)]
        for a, b in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        # Para cada par, el id del token que lo une: cuanto más bajo, antes se aprendió.
        self.ranks: dict[Pair, int] = {pair: BYTES + i for i, pair in enumerate(self.merges)}
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Aprende ``vocab_size - 256`` fusiones de ``text`` (menos si se acaban los pares).

        Desempate: entre pares igual de frecuentes gana el de ids más bajos, ``(a, b)`` comparado
        como una tupla. No depende del orden de un diccionario ni de la máquina.
        """
        if type(vocab_size) is not int or vocab_size < BYTES:
            raise TokenizerError(
                f"el vocabulario BPE necesita al menos {BYTES} tokens (los bytes)."
            )
        check_text(text)
        # Cada trozo distinto una sola vez, con su frecuencia: « de» sale miles de veces, pero sus
        # pares se cuentan una vez y se multiplican por las veces que aparece.
        chunks = Counter(SPLIT.findall(text))
        words = [list(chunk.encode("utf-8")) for chunk in chunks]
        freq = list(chunks.values())
        pairs: Counter[Pair] = Counter()  # cuántas veces aparece cada par en todo el texto
        where: defaultdict[Pair, set[int]] = defaultdict(set)  # en qué palabras aparece
        for w, word in enumerate(words):
            for pair in zip(word, word[1:], strict=False):
                pairs[pair] += freq[w]
                where[pair].add(w)
        merges: list[Pair] = []
        while BYTES + len(merges) < vocab_size and pairs:
            top = max(pairs.values())  # la frecuencia más alta; si empatan, el par más bajo
            best = min(pair for pair, count in pairs.items() if count == top)
            new_id = BYTES + len(merges)
            merges.append(best)
            # Solo cambian las palabras que contienen el par: se restan sus pares viejos y se
            # suman los nuevos. El resto de la tabla sigue valiendo; no hace falta recontarla.
            for w in where.pop(best):
                old, new = words[w], merge_pair(words[w], best, new_id)
                for pair in zip(old, old[1:], strict=False):
                    pairs[pair] -= freq[w]
                    if not pairs[pair]:
                        del pairs[pair]
                for pair in zip(new, new[1:], strict=False):
                    pairs[pair] += freq[w]
                    where[pair].add(w)
                words[w] = new
        return cls(merges)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def unknown_chars(self, text: str) -> list[str]:
        """Caracteres que no se pueden codificar: solo los sustitutos sueltos (no tienen bytes)."""
        return list(dict.fromkeys(SURROGATE.findall(text)))

    def encode(self, text: str) -> list[int]:
        check_text(text)
        ids: list[int] = []
        for chunk in SPLIT.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = list(chunk.encode("utf-8"))
        while len(ids) > 1:
            # Las fusiones se aplican en el orden en que se aprendieron: primero el par de rango
            # más bajo, como en el entrenamiento; así el texto de entrenamiento se parte igual.
            pair = min(zip(ids, ids[1:], strict=False), key=lambda p: self.ranks.get(p, INF))
            if pair not in self.ranks:
                break
            ids = merge_pair(ids, pair, self.ranks[pair])
        if len(self._cache) < CACHE_SIZE:
            self._cache[chunk] = ids
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        """Los bytes de un token: pueden ser medio carácter UTF-8 (un streaming los guarda)."""
        if type(token_id) is not int or not 0 <= token_id < len(self.vocab):
            raise TokenizerError(f"id de token fuera del vocabulario: {token_id!r:.40}.")
        return self.vocab[token_id]

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Los bytes de una secuencia de tokens, sin interpretar (para decodificar por partes)."""
        return b"".join(self.token_bytes(i) for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        # Una secuencia cortada a mitad de un carácter no es UTF-8 válido: el trozo roto sale
        # como «�» (U+FFFD) en vez de romper la generación.
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """Un token como texto visible: «·» el espacio, «↵» el salto, ``<0xC3>`` un byte suelto."""
        data, out, i = self.token_bytes(token_id), [], 0
        while i < len(data):
            for n in range(1, 5):  # un carácter UTF-8 ocupa de 1 a 4 bytes
                try:
                    ch = data[i : i + n].decode("utf-8")
                except UnicodeDecodeError:
                    continue
                shown = VISIBLE.get(ch, ch)
                out.append(shown if shown.isprintable() else hex_bytes(data[i : i + n]))
                i += n
                break
            else:
                out.append(hex_bytes(data[i : i + 1]))
                i += 1
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        # Solo tipos simples (listas de enteros): cabe en un checkpoint que se lee con
        # torch.load(weights_only=True) y en JSON.
        return {
            "type": "bpe",
            "vocab_size": self.vocab_size,
            "merges": [list(p) for p in self.merges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        if not isinstance(data, dict) or data.get("type") != "bpe":
            raise TokenizerError("vocabulario con formato desconocido.")
        tokenizer = cls(data.get("merges"))  # type: ignore[arg-type]
        size = data.get("vocab_size")
        if type(size) is not int or size != tokenizer.vocab_size:
            raise TokenizerError(
                f"el vocabulario BPE dice tener {size!r:.20} tokens, pero sus "
                f"{len(tokenizer.merges)} fusiones dan {tokenizer.vocab_size}."
            )
        return tokenizer
