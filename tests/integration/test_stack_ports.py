"""The local stack starts a child again on another port when the free port it chose was taken before the
child could bind it (free_port() and the child's bind are not atomic: `make demo` once failed this way), and
gives each test child its share of the cores as model threads."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import liveness.stack as stack_module
from liveness.stack import LocalStack, free_port, workers_per_test
from tests.registered import on_path, throwaway_package


@pytest.fixture()
def taken_port() -> Iterator[int]:
    """A loopback port somebody else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_child_whose_port_was_taken_starts_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    throwaway_package(tmp_path, port=free_port())
    handed: list[int] = []

    def first_one_taken() -> int:
        port = taken_port if not handed else free_port()
        handed.append(port)
        return port

    monkeypatch.setattr(stack_module, "free_port", first_one_taken)
    with on_path(tmp_path, ("throwaway",)), LocalStack(["throwaway"], start_timeout_s=60) as stack:
        address = stack.addresses["throwaway"]
        assert handed[0] == taken_port and address != f"127.0.0.1:{taken_port}"
        assert address == f"127.0.0.1:{handed[1]}"
        assert stack.gateway_address == f"127.0.0.1:{handed[2]}"
        assert [name for name, _, _ in stack._procs] == ["throwaway", "gateway"]  # the failed child is gone


def test_fixed_ports_are_not_moved(tmp_path: Path, taken_port: int) -> None:
    throwaway_package(tmp_path, port=taken_port)
    with on_path(tmp_path, ("throwaway",)), pytest.raises(RuntimeError, match="throwaway failed to start"):
        with LocalStack(["throwaway"], fixed_ports=True, start_timeout_s=60):
            pass


def _child_env(stack: LocalStack, name: str) -> dict[str, str]:
    pid = next(proc.pid for n, proc, _ in stack._procs if n == name)
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_the_cores_are_shared_among_the_tests() -> None:
    cases = [(2, 5), (16, 5), (15, 5), (1, 0)]
    assert [workers_per_test(cores, tests) for cores, tests in cases] == [1, 3, 3, 1]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads a child's environment from /proc")
def test_a_test_child_runs_its_share_of_the_cores_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    throwaway_package(tmp_path, port=free_port())
    monkeypatch.delenv("LIVENESS_WORKERS", raising=False)
    share = str(workers_per_test(len(os.sched_getaffinity(0)), 1))
    with on_path(tmp_path, ("throwaway",)), LocalStack(["throwaway"], start_timeout_s=60) as stack:
        assert _child_env(stack, "throwaway")["LIVENESS_WORKERS"] == share
        assert "LIVENESS_WORKERS" not in _child_env(stack, "gateway")  # the gateway keeps its default
    told = {"LIVENESS_WORKERS": "3"}
    with on_path(tmp_path, ("throwaway",)), LocalStack(["throwaway"], start_timeout_s=60, env=told) as stack:
        assert _child_env(stack, "throwaway")["LIVENESS_WORKERS"] == "3"
