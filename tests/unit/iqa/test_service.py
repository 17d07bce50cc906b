"""The iqa model behind the shared runtime, over real loopback gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from iqa.model import IqaModel, IqaSettings
from liveness.client import TestClient, clip_media, image_media
from liveness.runtime.testing import serve_model
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import decode_image
from tests.conftest import encode


@pytest.fixture()
def model(tiny_artifact_path: Path) -> IqaModel:
    return IqaModel(IqaSettings(model_path=tiny_artifact_path))


async def test_round_trip_image_and_clip(model: IqaModel, sharp_rgb: np.ndarray) -> None:
    png = encode(sharp_rgb, "PNG")
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(image_media(png))
        assert reply.test == "iqa" and reply.model_version == "test-1"
        assert reply.status == pb.STATUS_OK
        assert reply.score == pytest.approx(model.score_image(decode_image(png))[0], abs=1e-6)
        clip = await client.check(clip_media([(png, 40 * i) for i in range(5)]))
        assert clip.status == pb.STATUS_OK and clip.score == pytest.approx(reply.score, abs=1e-6)
        info = await client.describe()
        assert info.name == "iqa" and info.accepts_image and info.accepts_clip and not info.needs_face


@pytest.mark.parametrize("payload", [b"", b"not an image", b"\xff\xd8\xff\xe0 truncated jpeg"])
async def test_bad_input_is_rejected(model: IqaModel, payload: bytes) -> None:
    async with serve_model(model) as address, TestClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(image_media(payload))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
