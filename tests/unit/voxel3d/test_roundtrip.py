"""The voxel3d model behind the shared runtime on a real loopback gRPC server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveness.client import TestClient, clip_media, image_media
from liveness.runtime.convert import faces_to_proto
from liveness.runtime.testing import serve_model
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import encode_jpeg
from tests.unit.voxel3d.conftest import clip_of
from voxel3d import synth
from voxel3d.model import Voxel3dModel, Voxel3dSettings


@pytest.fixture(scope="module")
def model(tiny_onnx: Path, geometry_npz: Path) -> Voxel3dModel:
    return Voxel3dModel(Voxel3dSettings(model_path=tiny_onnx, geometry_path=geometry_npz, scorer="cnn"))


async def test_clip_with_face_regions_is_scored(model: Voxel3dModel, reference: np.ndarray) -> None:
    track = synth.synth_track("live", reference, 12, np.random.default_rng(4), amplitude_deg=25.0)
    media, faces = clip_of(track)
    request_media = clip_media(
        [(encode_jpeg(f), t) for f, t in zip(media.frames, media.timestamps_ms, strict=True)]
    )
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(media=request_media, faces=faces_to_proto(faces))
        info = await client.describe()
    assert reply.status == pb.STATUS_OK, reply.detail
    assert reply.test == "voxel3d"
    assert 0.0 <= reply.score <= 1.0
    assert info.accepts_clip and not info.accepts_image and info.needs_face
    assert info.min_frames == 8


async def test_single_image_is_not_applicable(model: Voxel3dModel) -> None:
    jpeg = encode_jpeg(np.zeros((48, 64, 3), np.uint8))
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(media=image_media(jpeg))
    assert reply.status == pb.STATUS_NOT_APPLICABLE


async def test_clip_without_faces_is_no_face(model: Voxel3dModel) -> None:
    """No regions sent: the runtime runs face detection itself and finds nothing in blank frames."""
    jpeg = encode_jpeg(np.zeros((120, 160, 3), np.uint8))
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(media=clip_media([(jpeg, 100 * i) for i in range(8)]))
    assert reply.status == pb.STATUS_NO_FACE, reply.detail
