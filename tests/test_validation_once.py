"""Una comprobación por frontera (issue 10.4), en la biblioteca y en la CLI: ``SamplingParams``
se comprueba al crearse (el motor y el bucle de referencia ya no lo repiten) y el prompt, al
crear el flujo de caracteres, antes de que la CLI escriba nada."""

from __future__ import annotations

import pytest

from shared.common.errors import ConfigError
from shared.sampling import SamplingParams
from tests.helpers.cli import run_module


@pytest.mark.parametrize(
    "bad",
    [{"temperature": -1}, {"temperature": float("nan")}, {"top_p": 0}, {"top_p": 1.5},
     {"top_k": -2}, {"seed": -1}, {"seed": 2**63}, {"max_new_tokens": -5}, {"top_probs": -1}],
    ids=str,
)  # fmt: skip
def test_invalid_sampling_params_cannot_be_built(bad: dict) -> None:
    # Nada que genere vuelve a comprobarlos: no debe poder existir uno inválido.
    with pytest.raises(ConfigError):
        SamplingParams(**bad)


def test_cli_unknown_prompt_fails_before_writing_anything(tiny_checkpoint) -> None:  # type: ignore[no-untyped-def]
    proc = run_module(
        "trainer.generate", "--ckpt", str(tiny_checkpoint), "--prompt", "la €",
        "--num-samples", "2", "--seed", "1",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""  # ni el prompt ni la cabecera de la muestra
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "'€'" in proc.stderr and "vocabulario" in proc.stderr
    assert "Traceback" not in proc.stderr
