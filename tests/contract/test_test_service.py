"""LivenessTest over real loopback gRPC: round trip, Describe, health, reflection, bad input."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import replace

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from liveness.client import TestClient, clip_media, image_media
from liveness.runtime import convert, server
from liveness.runtime import logging as jsonlog
from liveness.runtime.config import ServerSettings
from liveness.runtime.servicer import TestApp
from liveness.runtime.testing import serve_model
from liveness.stack import free_port
from liveness.types import Status, TestResult
from liveness.v1 import liveness_pb2 as pb
from tests.conftest import encode
from tests.doubles import DoubleModel


async def test_round_trip(astronaut_jpeg: bytes) -> None:
    model = DoubleModel(score=0.75)
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(image_media(astronaut_jpeg), request_id="rid-1")
        assert reply.test == "double" and reply.model_version == "double-1"
        assert reply.status == pb.STATUS_OK and reply.score == pytest.approx(0.75)
        assert reply.latency_ms > 0
        info = await client.describe()
        assert info.name == "double" and info.accepts_image and info.max_frames == 16
    assert model.calls[0].frames == 1 and not model.calls[0].is_clip


async def test_clip_only_test_answers_not_applicable_to_an_image(astronaut_jpeg: bytes) -> None:
    model = DoubleModel(accepts_image=False, min_frames=4)
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(image_media(astronaut_jpeg))
        assert reply.status == pb.STATUS_NOT_APPLICABLE and "at least 4 frames" in reply.detail
        short = clip_media([(astronaut_jpeg, t) for t in (0, 40)])
        assert (await client.check(short)).status == pb.STATUS_NOT_APPLICABLE
    assert model.calls == []


async def test_long_clips_are_subsampled_to_max_frames(plain_jpeg: bytes) -> None:
    model = DoubleModel(max_frames=4)
    async with serve_model(model) as address, TestClient(address) as client:
        reply = await client.check(clip_media([(plain_jpeg, 40 * i) for i in range(10)]))
        assert reply.status == pb.STATUS_OK
    assert model.calls[0].frames == 4 and model.calls[0].is_clip


async def test_test_detects_faces_itself_when_none_are_sent(astronaut_jpeg: bytes, plain_jpeg: bytes) -> None:
    model = DoubleModel(needs_face=True)
    async with serve_model(model) as address, TestClient(address) as client:
        assert (await client.check(image_media(astronaut_jpeg))).status == pb.STATUS_OK
        reply = await client.check(image_media(plain_jpeg))
        assert reply.status == pb.STATUS_NO_FACE
    assert model.calls[0].faces[0].count == 1 and model.calls[0].faces[0].face.landmarks.shape == (68, 2)


async def test_health_and_reflection() -> None:
    async with serve_model(DoubleModel()) as address, grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "liveness.v1.LivenessTest"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = refl.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        answer = await call.read()
        await call.done_writing()
        names = {s.name for s in answer.list_services_response.service}
        assert {"liveness.v1.LivenessTest", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_v1_and_v1alpha_list_and_describe_every_service(version: str) -> None:
    """Both protocol versions (same messages on the wire, so v1alpha's classes encode v1 requests) list the
    services and return the file that defines each, reflection v1 itself included."""
    method = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
    async with serve_model(DoubleModel()) as address, grpc.aio.insecure_channel(address) as channel:
        info = channel.stream_stream(
            method,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        call = info()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        names = {s.name for s in (await call.read()).list_services_response.service}
        assert names == {
            "liveness.v1.LivenessTest",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        }
        files = {}
        for name in sorted(names):
            await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol=name))
            answer = await call.read()
            assert answer.HasField("file_descriptor_response"), (name, answer.error_response)
            proto = descriptor_pb2.FileDescriptorProto.FromString(
                answer.file_descriptor_response.file_descriptor_proto[0]
            )
            files[name] = proto
        await call.done_writing()
    assert files["liveness.v1.LivenessTest"].name == "liveness/v1/liveness.proto"
    v1 = files["grpc.reflection.v1.ServerReflection"]
    assert v1.name == "grpc/reflection/v1/reflection.proto" and v1.package == "grpc.reflection.v1"
    assert v1.service[0].method[0].input_type == ".grpc.reflection.v1.ServerReflectionRequest"


async def test_health_is_not_serving_until_the_model_is_loaded() -> None:
    loading = asyncio.Event()
    release = asyncio.Event()

    class SlowApp(TestApp):
        async def start(self, executor):  # type: ignore[no-untyped-def]
            loading.set()
            await release.wait()
            await super().start(executor)

    port = free_port()
    app = SlowApp("double", DoubleModel, ServerSettings().limits)
    starting = asyncio.create_task(server.start(app, ServerSettings(port=port, grace_s=0)))
    await loading.wait()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await TestClient(f"127.0.0.1:{port}", channel).describe()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        release.set()
        running = await starting
        reply = await health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await running.stop(0)
    async with grpc.aio.insecure_channel(running.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=0.5)


BAD = [
    (pb.Media(), "set either image or clip"),
    (image_media(b""), "empty image data"),
    (image_media(b"not an image at all"), "not a JPEG, PNG or WebP"),
    (pb.Media(clip=pb.Clip()), "no frames"),
]


@pytest.mark.parametrize(("media", "message"), BAD, ids=["unset", "empty", "garbage", "empty-clip"])
async def test_bad_input_is_invalid_argument(media: pb.Media, message: str) -> None:
    async with serve_model(DoubleModel()) as address, TestClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(media)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in err.value.details()


async def test_bad_face_regions_and_challenge_are_invalid_argument(astronaut_jpeg: bytes) -> None:
    async with serve_model(DoubleModel(needs_face=True)) as address, TestClient(address) as client:
        regions = [
            pb.FaceRegion(frame_index=0, face_count=1, box=pb.Box(left=0, top=0, right=9999, bottom=10))
        ]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(image_media(astronaut_jpeg), faces=regions)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "outside" in err.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(image_media(astronaut_jpeg), challenge=pb.Challenge(actions=[0]))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "challenge" in err.value.details()


async def test_oversize_message_is_refused() -> None:
    settings = ServerSettings(port=0, grace_s=0, max_message_bytes=64 * 1024)
    async with serve_model(DoubleModel(), settings) as address, TestClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(image_media(b"\xff" * 100_000))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_logs_are_json_with_request_id_and_no_image_bytes(astronaut: np.ndarray) -> None:
    stream = io.StringIO()
    jsonlog.configure("double", "INFO", stream)
    try:
        data = encode(astronaut)
        async with serve_model(DoubleModel()) as address, TestClient(address) as client:
            await client.check(image_media(data), request_id="trace-me-42")
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    done = [e for e in lines if e.get("msg") == "rpc done" and e.get("rpc", "").endswith("/Check")]
    assert done and done[0]["request_id"] == "trace-me-42" and done[0]["status"] == "OK"
    assert data[:32].hex() not in stream.getvalue() and len(stream.getvalue()) < 5000


async def test_with_the_gateways_faces_frames_are_decoded_only_when_the_model_reads_them(
    astronaut_jpeg: bytes,
) -> None:
    """voxel3d reads landmarks only: a clip sent with its faces costs it no decoding. A frame broken past
    its header is still refused (INVALID_ARGUMENT, named) by a model that reads it."""
    from liveness.vision import face
    from liveness.vision.decode import decode_image

    seen: list[int] = []

    class Landmarks(DoubleModel):
        def check(self, media, faces, options):  # type: ignore[no-untyped-def]
            seen.append(getattr(media.frames, "decoded", -1))
            if self.name == "pixels":
                assert all(f.shape == media.frames[0].shape for f in media.frames)
            return TestResult(0.5, Status.OK)

    obs = face.observe(decode_image(astronaut_jpeg))
    regions = convert.faces_to_proto([replace(obs, frame_index=i) for i in range(4)])
    clip = clip_media([(astronaut_jpeg, 40 * i) for i in range(4)])
    async with serve_model(Landmarks(needs_face=True)) as address, TestClient(address) as client:
        assert (await client.check(clip, faces=regions)).status == pb.STATUS_OK
        assert (await client.check(clip)).status == pb.STATUS_OK  # no faces: the test tracks them itself
    assert seen == [0, -1]
    broken = clip_media([(astronaut_jpeg, 0), (astronaut_jpeg[: len(astronaut_jpeg) // 2], 40)])
    model = Landmarks(name="pixels", needs_face=True)
    async with serve_model(model) as address, TestClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.check(broken, faces=regions[:2])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "media.clip.frames[1].image.data" in err.value.details()
