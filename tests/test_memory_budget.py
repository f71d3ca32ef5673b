"""Estimación de memoria antes de construir nada: formas deducidas de la configuración, límites
de la máquina o de MEMORY_LIMIT, y la CLI real que rechaza lo que no cabe con un mensaje claro."""

from __future__ import annotations

import re

import pytest

from shared.checkpoints.models import build_model
from shared.checkpoints.shapes import count_parameters, optimizer_group_shapes, weight_shapes
from shared.common.errors import ConfigError
from shared.common.memory_estimate import (
    check_fits,
    estimate_inference,
    estimate_training,
    format_bytes,
    parse_size,
)
from shared.config import BigramConfig, GPTConfig
from tests.helpers.cli import TINY_GPT_ARGS, run_module

CONFIGS = [
    ("gpt", GPTConfig(vocab_size=7, block_size=5, n_embd=8, n_head=2, n_layer=3)),
    ("gpt", GPTConfig(vocab_size=11, block_size=9, n_embd=12, n_head=3, n_layer=1, bias=False)),
    ("bigram", BigramConfig(vocab_size=13, block_size=4)),
]


@pytest.mark.parametrize(("model_type", "config"), CONFIGS)
def test_shapes_match_the_real_model(model_type, config):
    model = build_model(model_type, config)
    real = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert weight_shapes(config) == real
    assert list(weight_shapes(config)) == list(real)  # mismo orden
    # El único contador de parámetros: los del modelo construido, los compartidos una vez.
    assert count_parameters(config) == sum(p.numel() for p in model.parameters())
    if model_type == "gpt":  # el state_dict lista lm_head.weight aparte, pero es tok_emb.weight
        listed = sum(t.numel() for t in model.state_dict().values())
        assert count_parameters(config) == listed - model.lm_head.weight.numel()
    groups = [[tuple(p.shape) for p in g["params"]] for g in model.optimizer_groups(0.1)]
    assert optimizer_group_shapes(config) == groups


def test_masks_and_batch_dominate_where_they_should():
    big_block = GPTConfig(vocab_size=80, block_size=131072, n_embd=2, n_head=1, n_layer=1)
    est = estimate_inference(big_block)
    assert est.masks == 131072**2  # una máscara bool de block_size² por bloque: 17 GB
    assert est.weights < 2_000_000  # los pesos apenas ocupan 1 MB
    small = GPTConfig(vocab_size=80, block_size=128, n_embd=128, n_head=4, n_layer=2)
    one = estimate_training(small, batch_size=32).total
    assert estimate_training(small, batch_size=10**9).total > 10**9 * one // 64
    # La cuenta de `make train` (GPT 2×128, lotes de 32×128) cabe de sobra en un portátil.
    assert one < 500 * 10**6


def test_limit_env_overrides_and_zero_disables(monkeypatch):
    cfg = GPTConfig(vocab_size=80, block_size=16384, n_embd=2, n_head=1, n_layer=3)
    monkeypatch.setenv("MEMORY_LIMIT", "500M")
    with pytest.raises(ConfigError) as info:
        check_fits(estimate_inference(cfg), "cpu", "este modelo")
    message = str(info.value)
    assert "MEMORY_LIMIT=500M" in message and "máscaras causales 805,3 MB" in message
    monkeypatch.setenv("MEMORY_LIMIT", "2G")
    check_fits(estimate_inference(cfg), "cpu", "este modelo")  # cabe
    monkeypatch.setenv("MEMORY_LIMIT", "0")
    check_fits(estimate_inference(GPTConfig(vocab_size=8, block_size=2**20)), "cpu", "x")
    monkeypatch.setenv("MEMORY_LIMIT", "mucho")
    with pytest.raises(ConfigError, match="no es un tamaño válido"):
        check_fits(estimate_inference(cfg), "cpu", "x")


def test_parse_and_format_sizes():
    assert parse_size("512M") == 512 * 2**20 and parse_size("1.5G") == int(1.5 * 2**30)
    assert parse_size("64GiB") == 64 * 2**30 and parse_size("1000") == 1000
    assert format_bytes(17_179_869_184) == "17,2 GB" and format_bytes(12) == "12 B"


def test_the_machine_limit_refuses_what_cannot_fit(monkeypatch):
    monkeypatch.delenv("MEMORY_LIMIT", raising=False)
    huge = GPTConfig(vocab_size=80, block_size=2**20, n_embd=2, n_head=1, n_layer=1)
    with pytest.raises(ConfigError, match=r"necesitaría unos 1,\d TB .* disponibles en esta"):
        check_fits(estimate_inference(huge), "cpu", "este modelo")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--n-embd", "100000", "--n-head", "4"], r"entrenar con --batch-size 8 necesitaría unos"),
        (["--batch-size", "1000000000"], r"entrenar con --batch-size 1000000000 necesitaría"),
        (["--n-layer", "100000"], r"'n_layer' no puede pasar de 512"),
    ],
)
def test_cli_refuses_models_that_do_not_fit_before_allocating(tiny_data, tmp_path, flags, expected):
    proc = run_module(
        "trainer", *TINY_GPT_ARGS, *flags, "--data", str(tiny_data), "--max-steps", "1",
        "--checkpoint-dir", str(tmp_path / "ck"), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
    assert re.search(expected, proc.stderr), proc.stderr
    assert not (tmp_path / "ck" / "tiny.pt").exists()


def test_container_room_comes_from_the_cgroup_without_reclaimable_cache(tmp_path):
    from shared.common.memory_estimate import _cgroup_room

    assert _cgroup_room(tmp_path) is None  # sin cgroup: la memoria de la máquina
    (tmp_path / "memory.max").write_text("max\n")
    assert _cgroup_room(tmp_path) is None  # contenedor sin límite
    (tmp_path / "memory.max").write_text(f"{2 * 2**30}\n")
    (tmp_path / "memory.current").write_text(f"{int(1.5 * 2**30)}\n")
    (tmp_path / "memory.stat").write_text(f"anon 100\ninactive_file {2**30}\nactive_file 5\n")
    assert _cgroup_room(tmp_path) == int(1.5 * 2**30)  # 2 GB − (1,5 GB − 1 GB de caché)
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text(f"{2**30}\n")
    (v1 / "memory" / "memory.usage_in_bytes").write_text(f"{2**29}\n")
    assert _cgroup_room(v1) == 2**29
