"""The package's shape, read from its source: no import circles, no oversized modules.

The import graph is read with ``ast``, not by importing: one node per module of
``service/qsession`` (the generated ``qsession.v1`` included), one edge per import of another
qsession module wherever it is written (function-local imports count; imports made only for
type checking, under ``if TYPE_CHECKING:``, do not). ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``; imports of the compiled
``qsession._native`` are left out.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "service" / "qsession"
GENERATED = PACKAGE / "v1"
NATIVE = "qsession._native"
MAX_LINES = 800
"""The most lines a hand-written module may have."""

Graph = dict[str, dict[str, int]]
"""Module -> {imported module: line of its first import there}."""


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, except in the body of an
    ``if TYPE_CHECKING:`` (its ``else`` counts)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _imported(
    module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: set[str]
) -> set[str]:
    """The qsession modules one import statement in ``module`` imports (see the module
    docstring), each resolved to the nearest known module or package."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        submodules = [f"{source}.{alias.name}" for alias in node.names]
        names = [name for name in submodules if name in modules or name == NATIVE]
        if len(names) < len(submodules):
            names.append(source)
    found = set()
    for name in names:
        if name == NATIVE or not (name == "qsession" or name.startswith("qsession.")):
            continue
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph(package: Path = PACKAGE) -> Graph:
    """The package's import graph (see the module docstring)."""
    files = module_files(package)
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: dict[str, int] = {}
        for node in _imports(tree):
            for target in _imported(module, path.name == "__init__.py", node, set(files)):
                edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[module] = edges
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's
    algorithm, without recursion), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components, key=lambda c: (-len(c), c))


def shortest_cycle(graph: Graph, component: list[str]) -> list[str]:
    """A shortest import circle through the component's first module, as ``[a, b, ..., a]``
    (breadth-first, within the component)."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in graph[node]:
            if successor not in members:
                continue
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    raise AssertionError(f"{start} is on no circle of {component}")


def describe_cycle(graph: Graph, component: list[str]) -> str:
    """The component's modules and one circle through them, each edge with its line."""
    circle = shortest_cycle(graph, component)
    steps = " -> ".join(
        f"{a} (line {graph[a][b]})" for a, b in zip(circle, circle[1:], strict=False)
    )
    return (
        f"{len(component)} modules import each other: {', '.join(component)}\n"
        f"  e.g. {steps} -> {circle[-1]}"
    )


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_the_graph_counts_local_imports_and_leaves_out_type_checking_ones(tmp_path: Path) -> None:
    package = tmp_path / "qsession"
    package.mkdir()
    sources = {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from qsession import b\n"
        "def f():\n    from . import c\n",
        "b.py": "from qsession.c import thing\nfrom qsession import _native\n",
        "c.py": "import qsession.b\n",
    }
    for name, source in sources.items():
        (package / name).write_text(source)
    graph = import_graph(package)
    assert {module: set(edges) for module, edges in graph.items()} == {
        "qsession": set(),
        "qsession.a": {"qsession.c"},
        "qsession.b": {"qsession.c"},
        "qsession.c": {"qsession.b"},
    }
    assert strongly_connected(graph) == [["qsession.b", "qsession.c"]]
    assert shortest_cycle(graph, ["qsession.b", "qsession.c"]) == [
        "qsession.b",
        "qsession.c",
        "qsession.b",
    ]


def test_the_import_graph_reader_sees_the_package(graph: Graph) -> None:
    assert "qsession" in graph and "qsession.v1.job_pb2" in graph
    assert NATIVE not in {target for edges in graph.values() for target in edges}


def test_no_module_imports_itself_through_others(graph: Graph) -> None:
    circles = [describe_cycle(graph, component) for component in strongly_connected(graph)]
    if circles:
        pytest.fail("import circles in service/qsession:\n" + "\n".join(circles), pytrace=False)


def test_no_hand_written_module_is_over_800_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE.parent.parent)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
        if GENERATED not in path.parents
    }
    oversized = [f"{path} ({lines})" for path, lines in sorted(sizes.items()) if lines > MAX_LINES]
    if oversized:
        pytest.fail(f"modules over {MAX_LINES} lines: {', '.join(oversized)}", pytrace=False)


SERVER_SIDE = ("qsession.runtime", "qsession.server", "qsession.dashboard")
LAYER_RULES: dict[str, tuple[str, ...]] = {
    "qsession.lifecycle": ("qsession.",),  # the domain: nothing of qsession but itself
    "qsession.wire": (*SERVER_SIDE, "qsession.client"),
    "qsession.execution": SERVER_SIDE,
    "qsession.workers": SERVER_SIDE,
    "qsession.sandbox": SERVER_SIDE,
    "qsession.store": SERVER_SIDE,
    "qsession.runtime": ("qsession.server", "qsession.dashboard", "qsession.client"),
    "qsession.client": (
        "qsession.runtime",
        "qsession.server",
        "qsession.dashboard",
        "qsession.lifecycle",
        "qsession.store",
        "qsession.execution",
        "qsession.workers",
        "qsession.sandbox",
    ),
}
"""Package -> the module prefixes it must not import (docs/architecture.md, "Layers")."""


def test_each_layer_imports_only_the_layers_below_it(graph: Graph) -> None:
    problems = []
    for module, edges in graph.items():
        for package, forbidden in LAYER_RULES.items():
            if module != package and not module.startswith(package + "."):
                continue
            for target, line in edges.items():
                inside = target == package or target.startswith(package + ".")
                if not inside and target.startswith(forbidden):
                    problems.append(f"{module} (line {line}) imports {target}")
    if problems:
        found = "\n".join(problems)
        pytest.fail(f"imports against the layering:\n{found}", pytrace=False)


FRONT_ENDS = ("qsession.server", "qsession.dashboard", "qsession.ibm_api")
RUNTIME = "qsession.runtime"


def _front_end_modules(graph: Graph) -> list[str]:
    return [m for m in graph if any(m == f or m.startswith(f + ".") for f in FRONT_ENDS)]


def _runtime_attributes(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Each attribute read on something named ``runtime`` (``runtime.x``, ``self.runtime.x``),
    with its line."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if name == "runtime":
            yield node.attr, node.lineno


def test_front_ends_reference_no_runtime_internals(graph: Graph) -> None:
    """The front ends (``qsession.server``, ``qsession.ibm_api``, ``qsession.dashboard``)
    import the runtime only as the package ``qsession.runtime`` (never one of its rooms) and
    use only the façade's public methods: no flush, no check_writable, no event log, clock or
    scheduler (docs/architecture.md, "Layers")."""
    from qsession.runtime import Runtime

    facade = {name for name in dir(Runtime) if not name.startswith("_")}
    files = module_files()
    problems = []
    for module in _front_end_modules(graph):
        for target, line in graph[module].items():
            if target.startswith(RUNTIME + "."):
                problems.append(f"{module} (line {line}) imports {target}")
        tree = ast.parse(files[module].read_text())
        for attribute, line in _runtime_attributes(tree):
            if attribute not in facade:
                problems.append(f"{module} (line {line}) uses runtime.{attribute}")
    if problems:
        found = "\n".join(problems)
        pytest.fail(f"front ends reach past the runtime façade:\n{found}", pytrace=False)
