"""liveness.scoring: a sample's latency is the request's round trip, not the client's reading and encoding of
the file before it (a 1080p video sampled to 16 frames takes the client seconds to decode and re-encode)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from liveness import scoring
from liveness.data.samples import Sample
from liveness.v1 import liveness_pb2 as pb

PREPARE_S = 0.4
ROUND_TRIP_S = 0.05


class _Client:
    async def evaluate(self, media: Any, timeout_s: float) -> pb.EvaluateResponse:
        await asyncio.sleep(ROUND_TRIP_S)
        return pb.EvaluateResponse(decision=pb.DECISION_LIVE, score=0.9)

    async def check(self, media: Any, timeout_s: float) -> pb.CheckResponse:
        await asyncio.sleep(ROUND_TRIP_S)
        return pb.CheckResponse(status=pb.STATUS_OK, score=0.9)


@pytest.mark.parametrize("which", ["gateway", "test"])
async def test_latency_is_the_round_trip_only(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_media(sample: Sample, frames: int) -> pb.Media:
        await asyncio.sleep(PREPARE_S)
        return pb.Media()

    monkeypatch.setattr(scoring, "_media", slow_media)
    scorer = (
        scoring.gateway_scorer(_Client(), 16, 5.0)
        if which == "gateway"
        else scoring.test_scorer(_Client(), 16, 5.0, 0.5)
    )
    outcome = await scorer(Sample(Path("v.mp4"), "live", "none", "s", "video"))
    assert outcome.accepted
    assert ROUND_TRIP_S * 1000 <= outcome.latency_ms < PREPARE_S * 1000
