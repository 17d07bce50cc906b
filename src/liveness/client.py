"""Typed async clients for the tests and the gateway, and helpers that build request media from files."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import grpc

from liveness.data.samples import kind_of
from liveness.data.video import read_frames
from liveness.runtime.interceptors import REQUEST_ID_KEY
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision.decode import encode_jpeg

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int | str]]:
    """Options for long-lived channels: big messages, keepalive, and quick reconnection after a restart."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2_000),
        # A `dns:///name:port` target of a headless Service resolves to every pod: spread calls over them.
        ("grpc.lb_policy_name", "round_robin"),
    ]


def open_channel(address: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.aio.Channel:
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials, options=channel_options())
    return grpc.aio.insecure_channel(address, options=channel_options())


def _metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    return ((REQUEST_ID_KEY, request_id),)


class TestClient:
    """Calls one LivenessTest service."""

    __test__ = False  # not a pytest test class

    def __init__(self, address: str, channel: grpc.aio.Channel | None = None) -> None:
        self.address = address
        self._channel = channel or open_channel(address)
        self._stub = pb_grpc.LivenessTestStub(self._channel)

    async def check(
        self,
        media: pb.Media,
        faces: Sequence[pb.FaceRegion] | None = None,
        request_id: str | None = None,
        timeout_s: float | None = None,
        challenge: pb.Challenge | None = None,
        reference: pb.Image | None = None,
    ) -> pb.CheckResponse:
        rid = request_id or uuid.uuid4().hex
        request = pb.CheckRequest(
            request_id=rid, media=media, faces=faces or (), challenge=challenge, reference=reference
        )
        return await self._stub.Check(request, timeout=timeout_s, metadata=_metadata(rid))

    async def describe(self, timeout_s: float | None = None) -> pb.TestInfo:
        return await self._stub.Describe(pb.DescribeRequest(), timeout=timeout_s)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> TestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class GatewayClient:
    """Calls the gateway's Liveness service."""

    def __init__(
        self, address: str, credentials: grpc.ChannelCredentials | None = None, api_key: str | None = None
    ) -> None:
        self.address = address
        self._channel = open_channel(address, credentials)
        self._stub = pb_grpc.LivenessStub(self._channel)
        self._api_key = api_key

    async def evaluate(
        self,
        media: pb.Media,
        request_id: str | None = None,
        timeout_s: float | None = None,
        challenge: pb.Challenge | None = None,
        reference: pb.Image | None = None,
        session: pb.CreateSessionResponse | None = None,
    ) -> pb.EvaluateResponse:
        """Evaluate `media`; with `session` (from create_session) the clip answers its challenge."""
        rid = request_id or uuid.uuid4().hex
        request = pb.EvaluateRequest(request_id=rid, media=media, challenge=challenge, reference=reference)
        if session is not None:
            request.session_id, request.nonce = session.session_id, session.nonce
        return await self._stub.Evaluate(request, timeout=timeout_s, metadata=self._call_metadata(rid))

    async def create_session(
        self, request_id: str | None = None, timeout_s: float | None = None
    ) -> pb.CreateSessionResponse:
        """A new single-use session: the challenge and flash colours to show, valid until expires_at_ms."""
        rid = request_id or uuid.uuid4().hex
        return await self._stub.CreateSession(
            pb.CreateSessionRequest(request_id=rid), timeout=timeout_s, metadata=self._call_metadata(rid)
        )

    async def describe(self, timeout_s: float | None = None) -> pb.LivenessDescribeResponse:
        """The gateway's limits, budget and tests."""
        return await self._stub.Describe(
            pb.LivenessDescribeRequest(), timeout=timeout_s, metadata=self._call_metadata(uuid.uuid4().hex)
        )

    def _call_metadata(self, request_id: str) -> tuple[tuple[str, str], ...]:
        return _metadata(request_id) + ((("x-api-key", self._api_key),) if self._api_key else ())

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def image_media(data: bytes) -> pb.Media:
    """Media for one encoded image, sent as-is."""
    return pb.Media(image=pb.Image(data=data))


def clip_media(frames: Sequence[tuple[bytes, int]]) -> pb.Media:
    """Media for a clip of (encoded bytes, timestamp_ms) frames."""
    return pb.Media(
        clip=pb.Clip(frames=[pb.Frame(image=pb.Image(data=d), timestamp_ms=t) for d, t in frames])
    )


def media_from_path(path: Path, frames: int = 16) -> pb.Media:
    """An image file's bytes as-is, or a video sampled to `frames` evenly spaced frames re-encoded as JPEG."""
    if kind_of(path) == "image":
        return image_media(path.read_bytes())
    sampled = read_frames(path, count=frames)
    return clip_media([(encode_jpeg(img), ts) for img, ts in sampled])
