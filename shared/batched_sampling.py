"""``sample_next_char`` para muchas filas a la vez, con el mismo resultado bit a bit.

En un lote de generaciones, sortear fila a fila cuesta más que la propia pasada del modelo:
son una veintena de operaciones pequeñas por fila. Aquí las filas con los mismos ajustes se
sortean juntas, con las mismas operaciones de ``shared/sampling.py`` aplicadas por filas
(temperatura, top-k, softmax, suma acumulada en float64 y búsqueda del número uniforme). Cada
fila usa su propio generador, así que saca el mismo número que sola. Las pruebas comparan con
``sample_next_char`` el carácter y la distribución de cada fila.

Van una a una, por ``sample_next_char``, las filas menos habituales: temperatura 0 (codicioso),
top-p (ordenar y recortar depende del orden de los empates) y temperaturas tan pequeñas que los
logits escalados desbordan a infinito.
"""

from __future__ import annotations

import torch

from shared.sampling import SamplingParams, sample_next_char


def sample_many(
    logits: list[torch.Tensor], params: list[SamplingParams], generators: list[torch.Generator]
) -> list[tuple[int, torch.Tensor]]:
    """(id elegido, distribución) para los logits (vocab,) de cada fila, como si fuera sola."""
    results: list[tuple[int, torch.Tensor] | None] = [None] * len(params)
    groups: dict[tuple[float, int], list[int]] = {}
    for i, p in enumerate(params):
        if p.temperature > 0 and p.top_p >= 1.0:
            groups.setdefault((p.temperature, p.top_k), []).append(i)
        else:
            results[i] = sample_next_char(logits[i], p, generators[i])
    for (temperature, top_k), members in groups.items():
        scaled = torch.stack([logits[i] for i in members]).detach().float().cpu() / temperature
        if not bool(torch.isfinite(scaled.amax(dim=1)).all()):
            for i in members:
                results[i] = sample_next_char(logits[i], params[i], generators[i])
            continue
        for i, pair in zip(members, _sample_group(scaled, top_k, members, generators), strict=True):
            results[i] = pair
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _sample_group(
    scaled: torch.Tensor, top_k: int, members: list[int], generators: list[torch.Generator]
) -> list[tuple[int, torch.Tensor]]:
    vocab = scaled.size(1)
    if 0 < top_k < vocab:
        kth = torch.topk(scaled, top_k, dim=1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    # Un número uniforme por fila, cada uno de su generador (como en sample_from).
    u = torch.cat([torch.rand(1, generator=generators[i], dtype=torch.float64) for i in members])
    cdf = torch.cumsum(probs.double(), dim=1)
    picked = torch.searchsorted(cdf, u.unsqueeze(1) * cdf[:, -1:], right=True)
    picked = picked.clamp_(max=vocab - 1)
    ids = picked.view(-1).tolist()
    zero = (probs.gather(1, picked).view(-1) == 0).tolist()
    out = []
    for row, (idx, is_zero) in enumerate(zip(ids, zero, strict=True)):
        if is_zero:
            # Como en sample_from: nunca un carácter con probabilidad 0 (redondeo del final).
            while probs[row, idx] == 0 and idx > 0:
                idx -= 1
        out.append((idx, probs[row]))
    return out
