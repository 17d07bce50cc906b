"""The temporal model behind the shared runtime on a real loopback gRPC server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveness.client import TestClient, clip_media, image_media
from liveness.runtime.testing import serve_model
from liveness.types import Box
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import encode_jpeg
from temporal.model import CAPPED_SCORE, TemporalModel, TemporalSettings


def _same_person(image: np.ndarray, box: Box) -> np.ndarray:
    return np.zeros(128)


@pytest.fixture(scope="module")
def model(tiny_sequence_onnx: Path, tiny_expression_onnx: Path) -> TemporalModel:
    settings = TemporalSettings(model_path=tiny_sequence_onnx, expression_path=tiny_expression_onnx)
    return TemporalModel(settings, encoder=_same_person)


async def test_clip_is_scored_and_challenge_reported(model: TemporalModel, astronaut: np.ndarray) -> None:
    jpeg = encode_jpeg(astronaut)
    media = clip_media([(jpeg, 100 * i) for i in range(8)])
    challenge = pb.Challenge(actions=[pb.ACTION_SMILE, pb.ACTION_SURPRISE])
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(media=media, faces=None, challenge=challenge)
        info = await client.describe()
    assert reply.status == pb.STATUS_OK, reply.detail
    assert reply.test == "temporal"
    assert 0.0 <= reply.score <= CAPPED_SCORE + 1e-6  # the stand-in never sees surprise: the challenge fails
    assert [(r.action, r.satisfied) for r in reply.challenge_results] == [
        (pb.ACTION_SMILE, True),
        (pb.ACTION_SURPRISE, False),
    ]
    assert info.accepts_clip and not info.accepts_image
    assert pb.ACTION_BLINK in info.supported_actions


async def test_single_image_is_not_applicable(model: TemporalModel, astronaut_jpeg: bytes) -> None:
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(media=image_media(astronaut_jpeg))
    assert reply.status == pb.STATUS_NOT_APPLICABLE
