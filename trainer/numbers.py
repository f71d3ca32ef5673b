"""Números para personas, a la española: 424 576 parámetros, pérdida 2,27.

Solo para lo que lee una persona (consola, resúmenes). El JSON y las métricas guardan los
números tal cual (``2.2715``), que es lo que esperan los programas.
"""

from __future__ import annotations

# La norma (RAE, SI) separa los miles con un espacio, nunca con punto ni coma, y no separa los
# números de cuatro cifras (2000). Espacio que no parte la línea (U+00A0): todas las
# terminales lo muestran.
THOUSANDS = "\u00a0"


def fmt_int(value: float) -> str:
    """Entero redondeado con los miles separados: 424 576, 2000, 12 345 678."""
    n = round(value)
    sign, digits = ("-", str(-n)) if n < 0 else ("", str(n))
    if len(digits) <= 4:
        return sign + digits
    groups = []
    while digits:
        groups.append(digits[-3:])
        digits = digits[:-3]
    return sign + THOUSANDS.join(reversed(groups))


def fmt_float(value: float, decimals: int = 2) -> str:
    """Decimal con coma y los miles separados: 2,27; 12 345,6."""
    text = f"{abs(value):.{decimals}f}"
    whole, _, frac = text.partition(".")
    sign = "-" if value < 0 and float(text) != 0 else ""
    out = sign + fmt_int(int(whole))
    return f"{out},{frac}" if frac else out
