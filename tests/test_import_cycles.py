"""The import graph of ``service`` is a DAG: no module reaches itself through imports, lazy ones included.

Edges are read from the source (every import statement, inside functions too; ``if TYPE_CHECKING:`` blocks
excluded, since they never run), and strongly connected components are found with Tarjan's algorithm.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent / "service"

# The package-init idiom is the one allowed cycle: ``service/web/__init__.py`` imports its submodules, which
# import the package back (``from service.web import i18n``). Such a cycle only runs through the package's
# ``__init__``; among the submodules themselves there is none.
PACKAGE_INIT_CYCLES = {"service.web", "service.api"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVICE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SERVICE.rglob("*.py")}


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` (they never run, so they cannot form a cycle)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _resolve(name: str) -> str | None:
    """The module an imported name lives in (``service.a.b`` may be a module, or a name in ``service.a``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def edges_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_blocks(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    # Importing ``service.a.b`` first runs ``service/a/__init__.py`` (but a module's own packages are
    # already being imported when it runs, so those edges are not real).
    ancestors = {module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)}
    for target in list(found):
        for n in range(1, target.count(".")):
            parent = target.rsplit(".", n)[0]
            if parent in MODULES and parent not in ancestors:
                found.add(parent)
    return found


def part_of(module: str) -> str:
    """The layer a module belongs to: ``service.grading.engine`` -> ``grading``, ``service.app`` -> ``app``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm; returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


GRAPH = {module: edges_of(module) for module in MODULES}


def package_init_idiom(component: set[str]) -> str | None:
    """The package whose ``__init__`` the cycle runs through, when that is its only cycle; else None."""
    packages = [m for m in component if MODULES[m].name == "__init__.py"]
    if len(packages) != 1:
        return None
    package = packages[0]
    if not all(m == package or m.startswith(package + ".") for m in component):
        return None
    rest = {m: GRAPH[m] & (component - {package}) for m in component - {package}}
    return None if strongly_connected(rest) else package


def test_no_import_cycles_but_the_package_init_idiom() -> None:
    components = strongly_connected(GRAPH)
    cycles = [sorted(c) for c in components if package_init_idiom(c) is None]
    assert not cycles, f"import cycles: {cycles}"
    # Only the known packages use the idiom; a new one is a decision to write down here.
    assert {package_init_idiom(c) for c in components} <= PACKAGE_INIT_CYCLES


def test_layers_form_a_dag() -> None:
    """Between layers (top-level packages and modules of ``service``) there is no cycle at all: e.g. the
    authoring tools import grading and exercises, never the other way round."""
    layers: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        layers.setdefault(part_of(module), set()).update(
            part_of(t) for t in targets if part_of(t) != part_of(module))
    assert not strongly_connected(layers), f"layer cycles: {strongly_connected(layers)}"


def test_the_graph_sees_lazy_imports_and_skips_type_checking() -> None:
    # A detector that missed lazy imports (or counted TYPE_CHECKING ones) would pass for the wrong reason.
    assert "service.app" in GRAPH["service.cli"]  # lazy, inside _app()
    assert "service.services.queue" not in GRAPH["service.services.runtime"]  # annotations only
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    # The idiom check rejects a cycle between two submodules even inside a package that uses the idiom.
    assert package_init_idiom({"service.web", "service.web.common"}) == "service.web"
    assert package_init_idiom({"service.services.queue", "service.services.runtime"}) is None
