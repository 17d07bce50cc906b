"""cnn2d behind the shared runtime over real loopback gRPC: round trip, statuses, bad input."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from cnn2d.model import Cnn2dModel
from liveness.client import TestClient, clip_media, image_media
from liveness.runtime.testing import serve_model
from liveness.v1 import liveness_pb2 as pb
from tests.conftest import encode


async def test_image_round_trip(brightness_model: Cnn2dModel, astronaut_jpeg: bytes) -> None:
    async with serve_model(brightness_model) as address, TestClient(address) as client:
        reply = await client.check(image_media(astronaut_jpeg))
        assert reply.test == "cnn2d" and reply.status == pb.STATUS_OK
        assert 0.0 <= reply.score <= 1.0 and "1 of 1 frames" in reply.detail
        info = await client.describe()
        assert info.name == "cnn2d" and info.accepts_image and info.accepts_clip and info.needs_face


async def test_clip_round_trip(brightness_model: Cnn2dModel, astronaut_jpeg: bytes) -> None:
    async with serve_model(brightness_model) as address, TestClient(address) as client:
        reply = await client.check(clip_media([(astronaut_jpeg, 40 * i) for i in range(6)]))
        assert reply.status == pb.STATUS_OK and "4 of 4 frames" in reply.detail  # max_frames=4 kept


async def test_no_face_and_multiple_faces(
    brightness_model: Cnn2dModel, astronaut: np.ndarray, plain_jpeg: bytes
) -> None:
    head = astronaut[:300, 100:400]
    two = encode(np.concatenate([head, head[:, ::-1]], axis=1))  # small enough for default detection
    async with serve_model(brightness_model) as address, TestClient(address) as client:
        assert (await client.check(image_media(plain_jpeg))).status == pb.STATUS_NO_FACE
        assert (await client.check(image_media(two))).status == pb.STATUS_MULTIPLE_FACES


@pytest.mark.parametrize("payload", [b"", b"not an image", b"\xff\xd8\xff\xe0 truncated jpeg"])
async def test_bad_input_is_invalid_argument(brightness_model: Cnn2dModel, payload: bytes) -> None:
    async with serve_model(brightness_model) as address, TestClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(image_media(payload))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
