"""The local stack starts a child again on another port when the free port it chose was taken before the
child could bind it (free_port() and the child's bind are not atomic: `make demo` once failed this way)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import liveness.stack as stack_module
from liveness.stack import LocalStack, free_port
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
