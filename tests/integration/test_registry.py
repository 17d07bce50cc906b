"""A test package registered in a fixture, with no shared file edited, is served by the local stack (as
`liveness serve <name>` in its own process), reached by the gateway and listed by the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from liveness.client import GatewayClient, image_media
from liveness.stack import LocalStack, free_port
from liveness.v1 import liveness_pb2 as pb
from tests.registered import on_path, throwaway_package


def test_a_registered_package_is_served_reached_and_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut_jpeg: bytes
) -> None:
    port = free_port()
    throwaway_package(tmp_path, port=port)
    monkeypatch.setenv("THROWAWAY_SCORE", "0.625")
    with on_path(tmp_path, ("throwaway",)):
        listed = subprocess.run(
            [sys.executable, "-m", "liveness", "tests"], capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0, listed.stderr
        rows = [line.split()[:2] for line in listed.stdout.splitlines()]
        assert ["throwaway", str(port)] in rows and ["iqa", "50061"] in rows  # in port order among them
        assert [int(p) for _, p in rows] == sorted(int(p) for _, p in rows)

        async def ask(address: str) -> tuple[pb.LivenessDescribeResponse, pb.EvaluateResponse]:
            async with GatewayClient(address) as client:
                info = await client.describe(timeout_s=10)
                reply = await client.evaluate(image_media(astronaut_jpeg), timeout_s=10)
            return info, reply

        with LocalStack(["throwaway"], start_timeout_s=60) as stack:
            assert stack.addresses["throwaway"].startswith("127.0.0.1:")
            info, reply = asyncio.run(ask(stack.gateway_address))
    (described,) = info.tests
    assert described.name == "throwaway" and described.available
    assert (
        described.info.version == "throwaway-1"
        and described.info.model_card == "a throwaway test of the registry"
    )
    (result,) = reply.tests
    assert result.result.test == "throwaway" and result.result.status == pb.STATUS_OK
    assert result.result.score == pytest.approx(0.625)
    assert result.weight == 0.0 and not result.fused  # reported; fused once a config gives it a weight
