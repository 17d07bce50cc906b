"""The gateway's decision pieces work on domain values only: neither they nor anything they import, directly
or through other first-party modules, imports the protobuf messages (liveness.v1), gRPC or protobuf."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.contract.test_layers import ROOT, import_graph, module_files, service_packages

PURE = ("gateway.routing", "gateway.policy", "gateway.fusion", "gateway.flash", "gateway.sessions")
FORBIDDEN_FIRST_PARTY = "liveness.v1"
FORBIDDEN_THIRD_PARTY = ("grpc", "google.protobuf")


def closure(module: str, graph: dict[str, dict[str, int]]) -> set[str]:
    """`module` and every first-party module it imports, transitively."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, {}))
    return seen


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    files = module_files(ROOT)
    return files, import_graph(files, ("liveness", *service_packages(ROOT)))


@pytest.mark.parametrize("module", PURE)
def test_no_protobuf_in_the_decision_pieces(
    module: str, project: tuple[dict[str, Path], dict[str, dict[str, int]]]
) -> None:
    files, graph = project
    reached = closure(module, graph)
    assert module in files and len(reached) > 1  # the module exists and its imports were read
    messages = sorted(
        m for m in reached if m == FORBIDDEN_FIRST_PARTY or m.startswith(FORBIDDEN_FIRST_PARTY + ".")
    )
    assert not messages, f"{module} reaches {messages} through {sorted(reached)}"
    rpc = sorted(
        f"{m} imports {name}"
        for m in reached
        for name in third_party_imports(files[m])
        if any(name == p or name.startswith(p + ".") for p in FORBIDDEN_THIRD_PARTY)
    )
    assert not rpc, f"{module} reaches gRPC or protobuf: {rpc}"


def test_the_check_sees_a_protobuf_import() -> None:
    graph = {"gateway.routing": {"gateway.backends": 3}, "gateway.backends": {"liveness.v1.liveness_pb2": 9}}
    assert "liveness.v1.liveness_pb2" in closure("gateway.routing", graph)
    assert "grpc" in third_party_imports(ROOT / "services" / "gateway" / "gateway" / "backends.py")
