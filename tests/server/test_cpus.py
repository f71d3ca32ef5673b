"""Núcleos usables y workers por defecto con un árbol de cgroup falso en un directorio temporal.

La cuota de CPU de un contenedor (``--cpus``) no puede crearse de verdad en esta máquina: la
frontera son los ficheros de /sys/fs/cgroup, así que se escribe un árbol con la misma forma y
se le pasa a la función. La afinidad (taskset) sí se prueba de verdad, en
test_server_settings_env.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.cpus import cgroup_cpu_limit, usable_cores
from server.settings import Settings, default_workers

AFFINITY = len(os.sched_getaffinity(0))


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def proc_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("200000 100000", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5), ("max 100000", None),
     ("basura", None)],
)  # fmt: skip
def test_cgroup_v2_cpu_max(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    # Dentro de un contenedor (cgroup namespace) el cgroup propio es la raíz: 0::/
    write(tmp_path / "cg", "cpu.max", cpu_max)
    assert cgroup_cpu_limit(tmp_path / "cg", proc_cgroup(tmp_path, "0::/\n")) == expected


def test_cgroup_v2_quota_of_an_ancestor_counts(tmp_path: Path) -> None:
    # En el host: el proceso vive en un cgroup hijo; la cuota del padre también lo limita.
    root = tmp_path / "cg"
    write(root, "system.slice/cpu.max", "300000 100000")
    write(root, "system.slice/app.service/cpu.max", "max 100000")
    own = proc_cgroup(tmp_path, "0::/system.slice/app.service\n")
    assert cgroup_cpu_limit(root, own) == 3.0


def test_cgroup_v2_host_path_missing_inside_container(tmp_path: Path) -> None:
    # Sin cgroup namespace, /proc/self/cgroup da la ruta del host, que en el contenedor no existe.
    root = tmp_path / "cg"
    write(root, "cpu.max", "100000 100000")
    own = proc_cgroup(tmp_path, "0::/machine.slice/libpod-abc.scope\n")
    assert cgroup_cpu_limit(root, own) == 1.0


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_cfs_quota(tmp_path: Path, mount: str) -> None:
    root = tmp_path / "cg"
    write(root, f"{mount}/docker/abc/cpu.cfs_quota_us", "250000")
    write(root, f"{mount}/docker/abc/cpu.cfs_period_us", "100000")
    own = proc_cgroup(tmp_path, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    assert cgroup_cpu_limit(root, own) == 2.5


def test_cgroup_v1_without_quota(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    write(root, "cpu/cpu.cfs_quota_us", "-1")
    write(root, "cpu/cpu.cfs_period_us", "100000")
    assert cgroup_cpu_limit(root, proc_cgroup(tmp_path, "1:cpu:/\n0::/\n")) is None


def test_hybrid_v2_under_unified(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    write(root, "unified/cpu.max", "100000 100000")
    assert cgroup_cpu_limit(root, proc_cgroup(tmp_path, "0::/\n")) == 1.0


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "nada", tmp_path / "tampoco") is None
    assert usable_cores(tmp_path / "nada", tmp_path / "tampoco") == AFFINITY


def test_usable_cores_takes_the_quota_rounded_down_and_at_least_one(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    own = proc_cgroup(tmp_path, "0::/\n")
    write(root, "cpu.max", "50000 100000")  # medio núcleo
    assert usable_cores(root, own) == 1
    write(root, "cpu.max", f"{(AFFINITY + 7) * 100000} 100000")  # más cuota que núcleos
    assert usable_cores(root, own) == AFFINITY


def test_default_workers_are_capped_at_four() -> None:
    # 96 núcleos (lo que ve un contenedor en un servidor grande) no son 96 workers de ~260 MB.
    assert default_workers(96, torch_threads=1) == 4
    assert default_workers(96, torch_threads=32) == 3
    assert default_workers(2, torch_threads=1) == 2
    assert default_workers(1, torch_threads=4) == 1


def test_settings_default_uses_usable_cores_and_explicit_value_wins() -> None:
    expected = default_workers(usable_cores(), torch_threads=1)
    assert Settings.from_env({}).web_concurrency == expected
    assert Settings.from_env({"WEB_CONCURRENCY": ""}).web_concurrency == expected
    assert Settings.from_env({"WEB_CONCURRENCY": " "}).web_concurrency == expected
    assert Settings.from_env({"WEB_CONCURRENCY": "9"}).web_concurrency == 9
