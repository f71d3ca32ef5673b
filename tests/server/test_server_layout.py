"""La forma de server/ a la vista: grafo de imports poco profundo, rutas que no se importan entre
sí y ningún nombre privado (``_x``) importado desde otro módulo."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "server"
MAX_DEPTH = 6
ROUTES = "server.routes"


def server_modules(root: Path = ROOT) -> dict[str, Path]:
    """Nombre de módulo (``server.routes.generate``) → fichero, para cada .py de server/."""
    modules: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(módulo de server/ importado, nombres que se toman de él) para cada import de ``name``,
    también los que van dentro de una función. ``from server import metrics`` es el módulo."""
    tree = ast.parse(modules[name].read_text(encoding="utf-8"))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name in modules]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            taken: list[str] = []
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.append((submodule, []))
                else:
                    taken.append(alias.name)
            if taken and node.module in modules:
                found.append((node.module, taken))
    return [(target, names) for target, names in found if target != name]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Las aristas entre módulos de server/ (los imports de fuera no cuentan)."""
    modules = server_modules(root)
    return {name: {target for target, _ in imports_of(name, modules)} for name in modules}


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """La cadena de imports más larga; su longitud (en módulos) es la profundidad del grafo."""

    visiting: list[str] = []

    @functools.cache
    def chain(name: str) -> tuple[str, ...]:
        assert name not in visiting, f"ciclo de imports: {' → '.join([*visiting, name])}"
        visiting.append(name)
        below = max((chain(target) for target in graph[name]), key=len, default=())
        visiting.pop()
        return (name, *below)

    return list(max((chain(name) for name in graph), key=len))


def test_import_graph_is_shallow() -> None:
    chain = longest_chain(import_graph())
    assert len(chain) <= MAX_DEPTH, " → ".join(chain)


def test_routes_import_helpers_never_other_routes() -> None:
    graph = import_graph()
    routes = [name for name in graph if name.startswith(f"{ROUTES}.")]
    assert len(routes) >= 5, routes  # generate, completions, attention, models, meta
    offenders = {
        name: sorted(target for target in graph[name] if target.startswith(ROUTES))
        for name in routes
    }
    assert not any(offenders.values()), offenders


def test_no_private_name_crosses_modules() -> None:
    modules = server_modules()
    offenders = [
        f"{name} importa {target}.{taken}"
        for name in modules
        for target, names in imports_of(name, modules)
        for taken in names
        if taken.startswith("_")
    ]
    assert not offenders, offenders


def test_the_measure_sees_a_deep_chain(tmp_path: Path) -> None:
    """La medida misma: una cadena a → b → c en un server/ de juguete mide 3."""
    pkg = tmp_path / PACKAGE
    (pkg / "routes").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "routes" / "__init__.py").write_text("")
    (pkg / "routes" / "a.py").write_text("from server import b\n")
    (pkg / "b.py").write_text("def f():\n    from server.c import X\n")
    (pkg / "c.py").write_text("X = 1\n")
    assert longest_chain(import_graph(tmp_path)) == ["server.routes.a", "server.b", "server.c"]


def definitions(name: str, root: Path = ROOT) -> list[str]:
    """Dónde se define ``name`` (asignación, función o clase de módulo) en el proyecto."""
    found = []
    for package in ("shared", "trainer", "server", "bench"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    names = [node.name]
                elif isinstance(node, ast.Assign):
                    names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                else:
                    continue
                if name in names:
                    found.append(str(path.relative_to(root)))
    return found


# Cada dato, una vez: el sufijo de las métricas, la dirección del playground, el formato del
# registro del servidor (frente y workers) y los límites de muestreo de la frontera HTTP.
@pytest.mark.parametrize(
    "name",
    ["METRICS_SUFFIX", "playground_url", "configure_logging", "MAX_TEMPERATURE", "MAX_SEED"],
)
def test_each_fact_is_defined_once(name: str) -> None:
    assert len(definitions(name)) == 1, definitions(name)
    assert not definitions(f"_{name}"), definitions(f"_{name}")
