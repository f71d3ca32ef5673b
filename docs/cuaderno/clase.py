# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # La clase en un cuaderno: de los caracteres al mini GPT
#
# <!-- aprender: orden -->
#
# Cada celda llama al código del proyecto (`shared/` y `trainer/`), el mismo que usan la línea
# de órdenes y el servidor: aquí no hay copias. Las figuras salen aquí mismo. De principio a
# fin tarda unos minutos en una CPU de 2 núcleos; con GPU, menos. El texto de las secciones es
# el de `docs/aprender.md` (la misma lección, con las cifras medidas por `make figures`).
#
# **Fuera del proyecto (Colab)**, la primera celda lo descarga e instala. Pon en `REPO_URL` la
# dirección del repositorio de donde lo sacaste (en la carpeta del proyecto no hace nada).

# %%
import importlib
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = "https://github.com/TU-USUARIO/llm-desde-cero"  # cámbialo por el de tu clase


def project_root() -> Path | None:
    """La carpeta del proyecto si el cuaderno se abre dentro de ella (o de una subcarpeta)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "shared" / "tokenizer.py").is_file() and (folder / "data").is_dir():
            return folder
    return None


ROOT = project_root()
if ROOT is None:  # Colab o cualquier otro sitio: clonar e instalar sin tocar su torch
    print(f"Instalando el proyecto desde {REPO_URL}…")
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "llm-desde-cero"], check=True)
    ROOT = Path("llm-desde-cero").resolve()
    # --no-deps: el torch, numpy y matplotlib del entorno valen; solo falta lo que no trae.
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    subprocess.run([*pip, "python-dotenv", "tqdm"], check=True)
    importlib.invalidate_caches()
os.chdir(ROOT)
sys.path.insert(0, str(ROOT))
print(f"Proyecto: {ROOT}")

# %%
import math
from collections import Counter

import matplotlib.pyplot as plt
import torch
from IPython.display import Image, display

from shared.checkpoints.files import load_model
from shared.common.device import resolve_device
from shared.engine.attention_map import attention_map
from shared.generation import collect, reference_generate
from shared.sampling import SamplingParams, next_char_distribution
from shared.tokenizer import CharTokenizer
from trainer.attention import draw_attention
from trainer.cli import main as train
from trainer.compare.plan import QUICK
from trainer.console import fmt_float, fmt_int
from trainer.plot import draw_curves, load_curve

DATA = Path("data/tiny_spanish.txt")
OUT = Path("build/cuaderno")  # checkpoints, métricas y figuras de este cuaderno
DEVICE = str(resolve_device("auto"))  # cuda, mps o cpu: lo mejor que haya
print(f"Dispositivo: {DEVICE}")

# %% [markdown]
# <!-- aprender: caracteres -->

# %%
text = DATA.read_text(encoding="utf-8")
tok = CharTokenizer.from_text(text)
ids = tok.encode("Hola, año")
print(tok.vocab_size, ids, tok.decode(ids))
print(
    f"Sin saber nada, cada carácter vale 1/{tok.vocab_size}: pérdida ln {tok.vocab_size} = "
    f"{fmt_float(math.log(tok.vocab_size))} nats por carácter. Todo lo que sigue se mide "
    "contra esto."
)

# %% [markdown]
# Los caracteres más frecuentes del texto (el espacio, `␣`, y las vocales mandan):

# %% tags=["figura"]
top = Counter(text).most_common(30)
fig, ax = plt.subplots(figsize=(10, 3))
ax.bar([{" ": "␣", "\n": "↵"}.get(c, c) for c, _ in top], [n / len(text) for _, n in top])
ax.set_ylabel("fracción del texto")
ax.set_title(f"Los 30 caracteres más frecuentes de {DATA.name} (de {tok.vocab_size})")
plt.show()

# %% [markdown]
# <!-- aprender: bigrama -->
#
# Se entrena con el entrenador del proyecto (`python -m trainer`), con los ajustes de la
# comparación rápida (`make figures`): pocos pasos y lotes pequeños.


# %%
def quick_args(model: str) -> list[str]:
    """Los ajustes de la versión rápida de la comparación (trainer/compare/plan.py)."""
    args = ["--model", model, "--data", str(DATA), "--device", DEVICE, "--no-progress",
            "--max-steps", str(QUICK.max_steps), "--batch-size", str(QUICK.batch_size),
            "--eval-interval", str(QUICK.eval_interval), "--eval-iters", str(QUICK.eval_iters),
            "--checkpoint-dir", str(OUT), "--run-name", model, "--overwrite"]  # fmt: skip
    if model == "gpt":
        args += ["--n-embd", str(QUICK.n_embd), "--lr", str(QUICK.gpt_lr)]
    return args


assert train(quick_args("bigram")) == 0

# %% tags=["figura"]
bigram_curve = load_curve(OUT / "bigram.metrics.jsonl", "bigrama")
display(Image(draw_curves([bigram_curve], OUT / "bigrama.png", "El bigrama")))

# %% [markdown]
# Cae muy deprisa y luego se estanca: con solo el último carácter no se puede predecir mejor.
# Ese es su suelo.

# %% [markdown]
# <!-- aprender: atencion -->
#
# Para verla hace falta un GPT entrenado: el mini GPT de la comparación rápida.

# %%
assert train(quick_args("gpt")) == 0
gpt, gpt_tok, gpt_ckpt = load_model(OUT / "gpt.pt", DEVICE)
print(f"GPT: {fmt_int(sum(p.numel() for p in gpt.parameters()))} parámetros, paso {gpt_ckpt.step}")

# %% [markdown]
# Una rejilla **capas × cabezas**: en cada cuadro, la fila es el carácter que pregunta (la
# consulta) y la columna el carácter al que mira (la clave); más azul = más peso. Por encima de
# la diagonal no hay nada: es la máscara causal, un carácter nunca ve los que vienen después.

# %% tags=["figura"]
amap = attention_map(gpt, gpt_tok, "El niño soñó que la casa")
display(Image(draw_attention(amap, OUT / "atencion.png", "Atención del GPT del cuaderno")))

# %% [markdown]
# <!-- aprender: gpt -->
#
# Las dos curvas juntas: el bigrama toca su suelo y el GPT, que ve más que el último carácter,
# sigue bajando.

# %% tags=["figura"]
gpt_curve = load_curve(OUT / "gpt.metrics.jsonl", "GPT")
display(Image(draw_curves([bigram_curve, gpt_curve], OUT / "bigrama-gpt.png",
                          "El bigrama frente al GPT")))  # fmt: skip
print(
    f"pérdida final de validación: bigrama {fmt_float(bigram_curve.final_val, 3)}, "
    f"GPT {fmt_float(gpt_curve.final_val, 3)} nats por carácter"
)

# %% [markdown]
# <!-- aprender: muestreo -->
#
# Las probabilidades del carácter que sigue a un texto, tal como las deja el muestreador con
# cada ajuste:

# %% tags=["figura"]
prompt = "Había una v"
with torch.no_grad():
    logits, _ = gpt(torch.tensor([gpt_tok.encode(prompt)], device=DEVICE))
settings = [(0.5, 0), (1.0, 0), (1.5, 0), (1.5, 5)]


def describe(temperature: float, top_k: int) -> str:
    return f"T = {fmt_float(temperature, 1)}" + (f", top-k {top_k}" if top_k else "")


# Los 12 caracteres más probables sin tocar nada (T = 1), en el mismo orden en cada cuadro.
shown = torch.topk(next_char_distribution(logits[0, -1], SamplingParams()), 12).indices.tolist()
labels = [{" ": "␣", "\n": "↵"}.get(gpt_tok.decode([i]), gpt_tok.decode([i])) for i in shown]
fig, axes = plt.subplots(1, len(settings), figsize=(14, 3), sharey=True)
for ax, (temperature, top_k) in zip(axes, settings, strict=True):
    params = SamplingParams(temperature=temperature, top_k=top_k)
    probs = next_char_distribution(logits[0, -1], params)
    ax.bar(labels, probs[shown].tolist())
    ax.set_title(describe(temperature, top_k))
axes[0].set_ylabel(f"P(siguiente | «{prompt}»)")
plt.show()

# %% [markdown]
# Y el texto que sale, con la misma semilla para que solo cambie el ajuste:

# %%
for temperature, top_k in settings:
    params = SamplingParams(max_new_tokens=80, temperature=temperature, top_k=top_k, seed=1)
    result = collect(reference_generate(gpt, gpt_tok, "Había una vez", params), "Había una vez")
    print(f"{describe(temperature, top_k)}: {result.text!r}")

# %% [markdown]
# A temperatura baja salen las sílabas más frecuentes, seguras y repetitivas; a temperatura alta,
# caracteres raros; top-k corta esa cola. Con 200 pasos aún no hay palabras: entrena más
# (`--max-steps 2000`) y vuelve a generar.
