"""La atención de entrenamiento en CPU con bf16 (``trainer.precision.cpu_bf16_attention``).

El entrenador la pone desde fuera (``choose_attention``) cuando entrena en CPU con bf16:
``baddbmm`` con la máscara sumada en vez del núcleo fusionado de sdpa (ver docs/BENCHMARKS.md).
Aquí se comprueba que la elección se hace solo ahí, que no toca los pesos ni la lección, que
respeta la máscara causal y que da lo mismo que la atención explícita y (con la tolerancia de
bf16) que float32.
"""

from __future__ import annotations

import pytest
import torch

from shared.config import GPTConfig
from shared.transformer_model import GPT, CausalSelfAttention
from trainer import precision
from trainer.precision import CpuBf16Attention, choose_attention, cpu_bf16_attention

CFG = dict(vocab_size=40, block_size=32, n_embd=32, n_head=4, n_layer=2)
CPU = torch.device("cpu")


@pytest.fixture
def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(5)
    return GPT(GPTConfig(**CFG)).state_dict()


def model(weights: dict[str, torch.Tensor], attention: str, dtype: str = "float32") -> GPT:
    m = GPT(GPTConfig(**CFG, attention=attention))
    m.load_state_dict(weights)
    choose_attention(m, CPU, dtype)
    return m


def bf16_forward_backward(m: GPT, idx: torch.Tensor, targets: torch.Tensor):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = m(idx, targets)
    loss.backward()
    return logits.detach().float(), m.blocks[0].attn.qkv.weight.grad.clone()


def test_the_trainer_chooses_it_only_for_cpu_bf16_with_sdpa(weights):
    def kinds(attention: str, dtype: str) -> set[type]:
        return {type(b.attn) for b in model(weights, attention, dtype).blocks}

    assert kinds("sdpa", "bfloat16") == {CpuBf16Attention}
    assert kinds("sdpa", "float32") == {CausalSelfAttention}
    assert kinds("manual", "bfloat16") == {CausalSelfAttention}
    gpu = GPT(GPTConfig(**CFG))
    assert not choose_attention(gpu, torch.device("cuda"), "bfloat16")
    assert {type(b.attn) for b in gpu.blocks} == {CausalSelfAttention}
    # Los mismos pesos y el mismo state_dict: un checkpoint no sabe qué atención entrenó.
    swapped = model(weights, "sdpa", "bfloat16")
    assert swapped.state_dict().keys() == weights.keys()
    assert all(torch.equal(swapped.state_dict()[k], w) for k, w in weights.items())


def test_it_is_used_and_matches_explicit_attention(weights, monkeypatch):
    calls = []

    def spy(*args):  # type: ignore[no-untyped-def]
        calls.append(1)
        return cpu_bf16_attention(*args)

    monkeypatch.setattr(precision, "cpu_bf16_attention", spy)
    idx = torch.randint(0, 40, (3, 32), generator=torch.Generator().manual_seed(1))
    targets = torch.randint(0, 40, (3, 32), generator=torch.Generator().manual_seed(2))

    fast_logits, fast_grad = bf16_forward_backward(model(weights, "sdpa", "bfloat16"), idx, targets)
    assert len(calls) == CFG["n_layer"]
    explicit_logits, explicit_grad = bf16_forward_backward(model(weights, "manual"), idx, targets)
    torch.testing.assert_close(fast_logits, explicit_logits, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(fast_grad, explicit_grad, rtol=5e-2, atol=1e-3)

    # Frente a float32 sin autocast: la diferencia es la del redondeo a bf16, nada más.
    ref = model(weights, "sdpa")
    ref_logits, ref_loss = ref(idx, targets)
    ref_loss.backward()
    ref_grad = ref.blocks[0].attn.qkv.weight.grad
    assert len(calls) == CFG["n_layer"]  # los demás modelos siguen con sdpa: nada global cambió
    assert (fast_logits - ref_logits.detach()).abs().max() < 0.05
    assert (fast_grad - ref_grad).norm() / ref_grad.norm() < 0.05

    # En float32, la misma cuenta que la atención explícita (con caché también: consultas a
    # partir de una posición > 0 y su trozo de máscara).
    with torch.no_grad():
        explicit = model(weights, "manual")
        fast = model(weights, "sdpa", "bfloat16")
        torch.testing.assert_close(fast(idx)[0], explicit(idx)[0], rtol=1e-5, atol=1e-5)
        caches = [m.new_kv_cache(3, CPU) for m in (fast, explicit)]
        for m, cache in zip((fast, explicit), caches, strict=True):
            m(idx[:, :20], kv_cache=cache)
        torch.testing.assert_close(
            fast(idx[:, 20:], kv_cache=caches[0])[0],
            explicit(idx[:, 20:], kv_cache=caches[1])[0],
            rtol=1e-5,
            atol=1e-5,
        )


def test_it_keeps_the_causal_mask(weights):
    m = model(weights, "sdpa", "bfloat16")
    a = torch.randint(0, 40, (1, 32), generator=torch.Generator().manual_seed(3))
    b = a.clone()
    b[0, 20:] = (b[0, 20:] + 7) % 40  # cambia solo el futuro a partir de la posición 20
    with torch.autocast("cpu", dtype=torch.bfloat16):
        la, _ = m(a)
        lb, _ = m(b)
    assert torch.equal(la[0, :20], lb[0, :20])
    assert not torch.equal(la[0, 20:], lb[0, 20:])
