"""Cuántos núcleos puede usar de verdad este proceso, para elegir cuántos workers arrancar.

``os.cpu_count()`` cuenta los núcleos de la máquina, no los que nos dejan usar: dentro de un
contenedor con ``--cpus 2`` en un servidor de 96 núcleos diría 96, y arrancaríamos 96 workers
de unos 260 MB cada uno peleándose por dos núcleos. Aquí se miran los tres límites posibles:

- la afinidad del proceso (``taskset``, ``docker run --cpuset-cpus``): ``os.sched_getaffinity``;
- la cuota de CPU de cgroup v2 (``cpu.max``: «cuota periodo» o «max periodo»);
- la de cgroup v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; -1 = sin cuota).

La cuota puede estar en el cgroup del proceso o en cualquiera de sus antepasados: vale la menor.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
# Nombres con los que se monta el controlador «cpu» de cgroup v1 según la distribución.
_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _own_paths(proc_cgroup: Path) -> tuple[str, str]:
    """(ruta en cgroup v2, ruta del controlador cpu en v1) según /proc/self/cgroup."""
    v2 = v1 = "/"
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _dirs_up(base: Path, own: str) -> list[Path]:
    """El cgroup propio bajo ``base`` y todos sus antepasados hasta ``base`` incluido.

    Dentro de un contenedor, /proc/self/cgroup puede dar la ruta del host, que allí no existe:
    entonces solo cuenta ``base``, que es el cgroup del propio contenedor."""
    parts = [p for p in own.strip("/").split("/") if p and p != ".."]
    return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _v2_limit(directory: Path) -> float | None:
    raw = _read(directory / "cpu.max")
    if not raw:
        return None
    fields = raw.split()
    try:
        quota, period = fields[0], int(fields[1]) if len(fields) > 1 else 100_000
        return None if quota == "max" or period <= 0 else int(quota) / period
    except ValueError:
        return None


def _v1_limit(directory: Path) -> float | None:
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    try:
        q, p = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP
) -> float | None:
    """Núcleos que permite la cuota de CPU (p. ej. 1.5), o None si no hay cuota."""
    v2_path, v1_path = _own_paths(proc_cgroup)
    limits = [_v2_limit(d) for d in _dirs_up(root, v2_path)]
    # Sistemas «híbridos»: la jerarquía v2 montada aparte, en /sys/fs/cgroup/unified.
    limits += [_v2_limit(d) for d in _dirs_up(root / "unified", v2_path)]
    for name in _V1_CPU_DIRS:
        limits += [_v1_limit(d) for d in _dirs_up(root / name, v1_path)]
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def usable_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """Núcleos que este proceso puede usar: afinidad y cuota de cgroup, al menos 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS no tiene sched_getaffinity
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        # Una cuota de 1,5 núcleos da para 1 worker con un hilo de torch a pleno rendimiento.
        cores = min(cores, math.floor(limit))
    return max(1, cores)
