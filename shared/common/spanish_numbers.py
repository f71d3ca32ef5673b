"""Los números que lee una persona, a la española: coma decimal y miles con espacio.

Una sola forma de escribirlos para la consola del entrenador, la comparación, sus figuras y los
mensajes de error. Lo que leen los programas (JSON, métricas, la API) guarda los números tal cual.
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


def fmt_short(value: float) -> str:
    """Lo más corto que lo dice entero (como ``{:g}``), con coma: 0,005; 1e-4 → 0,0001."""
    text = f"{value:.6f}".rstrip("0").rstrip(".") if 1e-6 <= abs(value) < 1e6 else f"{value:g}"
    return decimal_comma(text)


def decimal_comma(text: str) -> str:
    """Un número ya escrito (p. ej. por matplotlib) con la coma decimal en vez del punto."""
    return text.replace(".", ",")
