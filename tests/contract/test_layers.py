"""Layers point one way: core <- services <- tools, and no module imports itself back through others.

- core: the shared package a service is built on (liveness.types, errors, runtime, vision, client, v1, data,
  the ISO rates in liveness.iso30107 ...). It imports no service package and no tool.
- services: one package per service folder (services/<name>/<name>: the tests and the gateway). A service
  imports core only: no tool, and no other service.
- tools: the offline and developer commands in the liveness package (cli, stack, eval, bench, calibrate, web
  ...). They may import anything below them.

Every module of the liveness package is placed in CORE or TOOLS below, so a new one has to be placed before
this passes. The import graph is read statically with `ast` from every `import` statement, including those
inside functions and under TYPE_CHECKING (a lazy import is still a dependency). Imports built at run time
(importlib with a computed name, like the CLI's lazy command table) are not seen; the CLI is the top layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Module prefixes of the liveness package by layer ("liveness" itself is its package __init__ only).
CORE = (
    "liveness",
    "liveness.types",
    "liveness.errors",
    "liveness.runtime",
    "liveness.vision",
    "liveness.client",
    "liveness.v1",
    "liveness.data",
    "liveness.iso30107",
    "liveness.onnx",
    "liveness.training",  # training helpers; TensorFlow imported lazily
    "liveness.clierrors",  # project errors -> click errors, for the tools' and the train commands
    "liveness.memory",
    "liveness.security",
    "liveness.registry",  # the tests' declarations, read from the `liveness.tests` entry points
    "liveness.healthcheck",  # the images' HEALTHCHECK
    "liveness.yamlmerge",  # the gateway pod's init container
)
TOOLS = (
    "liveness.__main__",
    "liveness.cli",
    "liveness.stack",
    "liveness.evaluate",
    "liveness.scoring",
    "liveness.eval_report",
    "liveness.eval_protocol",
    "liveness.plots",
    "liveness.bench",
    "liveness.calibrate",
    "liveness.web",
    "liveness.protogen",
    "liveness.npmtools",
    "liveness.compat",
)

# Import cycles known and not yet broken, each with the step that removes it. The test fails when one of
# these is gone too, so the list cannot go stale.
KNOWN_CYCLES: set[frozenset[str]] = set()

Graph = dict[str, dict[str, int]]  # module -> {imported first-party module: first line that imports it}


def service_packages(root: Path) -> tuple[str, ...]:
    return tuple(
        sorted(p.parent.name for p in root.glob("services/*/*/__init__.py") if p.parts[-3] == p.parts[-2])
    )


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for src/liveness and every services/<name>/<name>."""
    found: dict[str, Path] = {}
    packages = [root / "src" / "liveness"] + [root / "services" / n / n for n in service_packages(root)]
    for package in packages:
        base = package.parent
        for path in sorted(package.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def import_graph(files: Mapping[str, Path], first_party: Iterable[str]) -> Graph:
    """Each module's imports of first-party modules, wherever they sit in the file."""
    tops = set(first_party)
    graph: Graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` the module mod.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target.split(".")[0] in tops and target != name:
                    deps[target] = min(deps.get(target, node.lineno), node.lineno)
        graph[name] = deps
    return graph


def _under(module: str, prefix: str) -> bool:
    return module == prefix or (prefix != "liveness" and module.startswith(prefix + "."))


def layer_of(module: str, services: Iterable[str]) -> str | None:
    top = module.split(".")[0]
    if top in set(services):
        return "service"
    if any(_under(module, p) for p in CORE):
        return "core"
    if any(_under(module, p) for p in TOOLS):
        return "tool"
    return None


def layer_violations(
    graph: Graph, services: Iterable[str], files: Mapping[str, Path], root: Path
) -> list[str]:
    """Imports against the layers, as 'file:line: what'."""
    services = tuple(services)
    found = []
    for module, deps in sorted(graph.items()):
        layer = layer_of(module, services)
        for dep, line in sorted(deps.items()):
            dep_layer = layer_of(dep, services)
            where = f"{files[module].relative_to(root)}:{line}"
            if layer == "core" and dep_layer in ("service", "tool"):
                found.append(f"{where}: core module {module} imports {dep_layer} {dep}")
            elif layer == "service" and dep_layer == "tool":
                found.append(f"{where}: service module {module} imports tool {dep}")
            elif layer == "service" and dep_layer == "service" and dep.split(".")[0] != module.split(".")[0]:
                found.append(f"{where}: service module {module} imports another service, {dep}")
    return found


def cycles(graph: Graph) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], tuple[str, ...], Graph]:
    files = module_files(ROOT)
    services = service_packages(ROOT)
    return files, services, import_graph(files, ("liveness", *services))


def test_every_module_has_a_layer(project: tuple[dict[str, Path], tuple[str, ...], Graph]) -> None:
    files, services, _ = project
    assert {"gateway", "iqa"} <= set(services)
    unplaced = sorted(m for m in files if layer_of(m, services) is None)
    assert not unplaced, f"place these liveness modules in CORE or TOOLS of {__name__}: {unplaced}"
    both = sorted(m for m in files if any(_under(m, p) for p in CORE) and any(_under(m, p) for p in TOOLS))
    assert not both, f"in both CORE and TOOLS: {both}"


def test_layers_point_one_way(project: tuple[dict[str, Path], tuple[str, ...], Graph]) -> None:
    files, services, graph = project
    assert sum(len(deps) for deps in graph.values()) > 100  # the graph was read at all
    violations = layer_violations(graph, services, files, ROOT)
    assert not violations, "imports against the layers (core <- services <- tools):\n" + "\n".join(violations)


def test_no_import_cycle(project: tuple[dict[str, Path], tuple[str, ...], Graph]) -> None:
    *_, graph = project
    found = cycles(graph)
    new = sorted(sorted(c) for c in found - KNOWN_CYCLES)
    assert not new, f"import cycles: {new}"
    gone = sorted(sorted(c) for c in KNOWN_CYCLES - found)
    assert not gone, f"these cycles are broken now; remove them from KNOWN_CYCLES: {gone}"


def test_the_checks_see_what_they_must(tmp_path: Path) -> None:
    """A made-up tree with one of each fault: lazy, relative and `from pkg import mod` imports all count."""
    files = {
        "liveness/__init__.py": "",
        "liveness/types.py": "def f():\n    from liveness import stack\n",  # core -> tool, lazily
        "liveness/errors.py": "from .vision import face\n",  # core -> core, relative
        "liveness/vision/__init__.py": "",
        "liveness/vision/face.py": "import liveness.errors\n",  # with errors.py: a cycle
        "liveness/stack.py": "import gateway.config\n",  # tool -> service: allowed
        "gateway/__init__.py": "",
        "gateway/config.py": "from liveness import cli\n",  # service -> tool
        "gateway/fusion.py": "from iqa.model import Model\n",  # service -> another service
        "iqa/__init__.py": "",
        "iqa/model.py": "from liveness.types import Status\n",  # service -> core: allowed
        "liveness/cli.py": "",
    }
    paths = {}
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        parts = list(Path(rel).with_suffix("").parts)
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = import_graph(paths, ("liveness", "gateway", "iqa"))
    assert graph["liveness.errors"] == {"liveness.vision.face": 1}
    assert layer_violations(graph, ("gateway", "iqa"), paths, tmp_path) == [
        "gateway/config.py:1: service module gateway.config imports tool liveness.cli",
        "gateway/fusion.py:1: service module gateway.fusion imports another service, iqa.model",
        "liveness/types.py:2: core module liveness.types imports tool liveness.stack",
    ]
    assert cycles(graph) == {frozenset({"liveness.errors", "liveness.vision.face"})}
