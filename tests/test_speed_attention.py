"""La atención rápida de entrenamiento en CPU con bf16 (``_attention_cpu_bf16``) calcula lo mismo.

Con autocast en CPU y gradientes activos, el modelo con ``attention="sdpa"`` no usa el núcleo
fusionado sino ``baddbmm`` con la máscara sumada (ver docs/BENCHMARKS.md). Aquí se comprueba que
ese camino se usa de verdad, que respeta la máscara causal y que da lo mismo que la atención
explícita y (con la tolerancia de bf16) que float32.
"""

from __future__ import annotations

import pytest
import torch

from shared.config import GPTConfig
from shared.transformer_model import GPT, CausalSelfAttention

CFG = dict(vocab_size=40, block_size=32, n_embd=32, n_head=4, n_layer=2)


@pytest.fixture
def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(5)
    return GPT(GPTConfig(**CFG)).state_dict()


def model(weights: dict[str, torch.Tensor], attention: str) -> GPT:
    m = GPT(GPTConfig(**CFG, attention=attention))
    m.load_state_dict(weights)
    return m


def bf16_forward_backward(m: GPT, idx: torch.Tensor, targets: torch.Tensor):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = m(idx, targets)
    loss.backward()
    return logits.detach().float(), m.blocks[0].attn.qkv.weight.grad.clone()


def test_fast_path_is_used_and_matches_explicit_attention(weights, monkeypatch):
    calls = []
    original = CausalSelfAttention._attention_cpu_bf16

    def spy(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(CausalSelfAttention, "_attention_cpu_bf16", spy)
    idx = torch.randint(0, 40, (3, 32), generator=torch.Generator().manual_seed(1))
    targets = torch.randint(0, 40, (3, 32), generator=torch.Generator().manual_seed(2))

    fast_logits, fast_grad = bf16_forward_backward(model(weights, "sdpa"), idx, targets)
    assert len(calls) == CFG["n_layer"]
    explicit_logits, explicit_grad = bf16_forward_backward(model(weights, "manual"), idx, targets)
    torch.testing.assert_close(fast_logits, explicit_logits, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(fast_grad, explicit_grad, rtol=5e-2, atol=1e-3)

    # Frente a float32 sin autocast: la diferencia es la del redondeo a bf16, nada más.
    ref = model(weights, "sdpa")
    ref_logits, ref_loss = ref(idx, targets)
    ref_loss.backward()
    ref_grad = ref.blocks[0].attn.qkv.weight.grad
    assert (fast_logits - ref_logits.detach()).abs().max() < 0.05
    assert (fast_grad - ref_grad).norm() / ref_grad.norm() < 0.05


def test_fast_path_keeps_the_causal_mask(weights):
    m = model(weights, "sdpa")
    a = torch.randint(0, 40, (1, 32), generator=torch.Generator().manual_seed(3))
    b = a.clone()
    b[0, 20:] = (b[0, 20:] + 7) % 40  # cambia solo el futuro a partir de la posición 20
    with torch.autocast("cpu", dtype=torch.bfloat16):
        la, _ = m(a)
        lb, _ = m(b)
    assert torch.equal(la[0, :20], lb[0, :20])
    assert not torch.equal(la[0, 20:], lb[0, 20:])
