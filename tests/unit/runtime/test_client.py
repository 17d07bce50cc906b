"""Client channels spread calls over every address a target resolves to (headless Services in k8s)."""

from __future__ import annotations

from liveness.client import TestClient, image_media
from liveness.runtime.testing import serve_model
from tests.doubles import DoubleModel


async def test_calls_are_spread_round_robin(astronaut_jpeg: bytes) -> None:
    a, b = DoubleModel("iqa"), DoubleModel("iqa")
    async with serve_model(a) as first, serve_model(b) as second:
        target = f"ipv4:{first},{second}"  # one name resolving to two pods
        async with TestClient(target) as client:
            for _ in range(8):
                await client.check(image_media(astronaut_jpeg), timeout_s=10)
    # pick_first would send all 8 to one; round_robin alternates once both subchannels are connected.
    assert len(a.calls) + len(b.calls) == 8 and min(len(a.calls), len(b.calls)) >= 2
