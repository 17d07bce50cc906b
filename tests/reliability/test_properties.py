"""Property tests: whatever a client sends, decoding raises only InvalidInput and a server answers only OK or
INVALID_ARGUMENT (never INTERNAL, UNKNOWN, a crash or a hang).

Example counts are bounded so the module runs in well under a minute on two cores; the database is off so
CI leaves no files behind, and derandomize keeps CI runs reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveness.client import channel_options
from liveness.errors import InvalidInput
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision.decode import MediaLimits, decode_frames, decode_image
from tests.doubles import DoubleModel
from tests.reliability import media as m
from tests.reliability.battery import TEST_STATUSES
from tests.reliability.harness import ThreadedServer, serve_gateway

SMALL_LIMITS = MediaLimits(max_image_bytes=64 * 1024, max_pixels=256 * 256, max_frames=6)
FUZZ = settings(
    max_examples=int(os.environ.get("RELIABILITY_EXAMPLES", "120")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CALL_TIMEOUT_S = 20.0
ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}

SEEDS = (
    m.jpeg(),
    m.jpeg(seed=2, height=48),
    m.jpeg(progressive=True),
    m.other_format("WEBP"),
    m.png_rgba(),
    m.png_16bit(),
    m.cmyk_jpeg(),
    m.png_palette_transparent(),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid image with a few bytes overwritten, then maybe truncated: the inputs that reach decoders."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


IMAGE_BYTES = st.one_of(st.binary(max_size=512), st.sampled_from(SEEDS), mutated())
TIMESTAMPS = st.integers(-(2**63), 2**63 - 1) | st.integers(-5, 400)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.floats(-10, 80, width=32)


def _assert_rgb(image: np.ndarray, limits: MediaLimits) -> None:
    h, w = image.shape[:2]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert h * w <= limits.max_pixels and min(h, w) >= limits.min_side


@FUZZ
@given(IMAGE_BYTES)
def test_decode_image_returns_rgb_or_raises_invalid_input(data: bytes) -> None:
    try:
        image = decode_image(data, SMALL_LIMITS)
    except InvalidInput as exc:
        assert str(exc).startswith("image: ")
        return
    _assert_rgb(image, SMALL_LIMITS)


@FUZZ
@given(st.lists(st.tuples(IMAGE_BYTES, TIMESTAMPS), max_size=8))
def test_decode_frames_keeps_its_promises(frames: list[tuple[bytes, int]]) -> None:
    """Accepted clips: 1..max_frames equal-sized RGB frames, strictly increasing non-negative times."""
    try:
        media = decode_frames(frames, SMALL_LIMITS)
    except InvalidInput:
        return
    assert 1 <= len(media) <= SMALL_LIMITS.max_frames and media.is_clip
    for frame in media.frames:
        _assert_rgb(frame, SMALL_LIMITS)
        assert frame.shape == media.frames[0].shape
    ts = media.timestamps_ms
    if len(ts) > 1:
        assert all(t >= 0 for t in ts) and all(b > a for a, b in zip(ts, ts[1:], strict=False))


@st.composite
def face_regions(draw: st.DrawFn) -> list[pb.FaceRegion]:
    regions = []
    for _ in range(draw(st.integers(0, 3))):
        region = pb.FaceRegion(
            frame_index=draw(st.integers(-(2**31), 2**31 - 1) | st.integers(0, 3)),
            face_count=draw(st.integers(-(2**31), 2**31 - 1) | st.integers(0, 2)),
        )
        if draw(st.booleans()):
            left, top, right, bottom = (draw(FLOATS) for _ in range(4))
            region.box.CopyFrom(pb.Box(left=left, top=top, right=right, bottom=bottom))
        n = draw(st.sampled_from([0, 0, 5, 68]))
        region.landmarks.extend(pb.Point(x=draw(FLOATS), y=draw(FLOATS)) for _ in range(n))
        regions.append(region)
    return regions


@st.composite
def request_media(draw: st.DrawFn) -> pb.Media:
    kind = draw(st.sampled_from(["unset", "image", "clip"]))
    if kind == "unset":
        return pb.Media()
    if kind == "image":
        return pb.Media(image=pb.Image(data=draw(IMAGE_BYTES)))
    frames = draw(st.lists(st.tuples(IMAGE_BYTES, TIMESTAMPS), max_size=8))
    return pb.Media(
        clip=pb.Clip(frames=[pb.Frame(image=pb.Image(data=d), timestamp_ms=t) for d, t in frames])
    )


ACTIONS = st.lists(st.integers(-(2**31), 2**31 - 1) | st.integers(0, 6), max_size=4)
REFERENCE = st.none() | IMAGE_BYTES.map(lambda d: pb.Image(data=d))


@st.composite
def check_requests(draw: st.DrawFn) -> pb.CheckRequest:
    return pb.CheckRequest(
        request_id=draw(st.text(max_size=300)),
        media=draw(request_media()),
        faces=draw(face_regions()),
        challenge=pb.Challenge(actions=draw(ACTIONS)),
        reference=draw(REFERENCE),
    )


def _settings() -> ServerSettings:
    limits = SMALL_LIMITS
    return ServerSettings(
        port=0,
        grace_s=0.0,
        max_image_bytes=limits.max_image_bytes,
        max_pixels=limits.max_pixels,
        max_frames=limits.max_frames,
    )


@pytest.fixture(scope="module")
def double_channel() -> Iterator[grpc.Channel]:
    """A face-needing double (so supplied regions are validated and used) with small media limits."""
    model = DoubleModel(needs_face=True, max_frames=4)
    with ThreadedServer(lambda: serve_model(model, _settings())) as running:
        with grpc.insecure_channel(running.address, options=channel_options()) as channel:
            yield channel


@pytest.fixture(scope="module")
def gateway_channel() -> Iterator[grpc.Channel]:
    backends = [(DoubleModel("iqa"), 1.0), (DoubleModel("cnn2d", needs_face=True), 1.0)]
    with ThreadedServer(lambda: serve_gateway(backends, _settings())) as running:
        with grpc.insecure_channel(running.address, options=channel_options()) as channel:
            yield channel


@FUZZ
@given(request=check_requests())
def test_check_answers_ok_or_invalid_argument(double_channel: grpc.Channel, request: pb.CheckRequest) -> None:
    stub = pb_grpc.LivenessTestStub(double_channel)
    try:
        reply = stub.Check(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        assert exc.code() in ANSWERS, (exc.code(), exc.details())  # type: ignore[attr-defined]
        return
    assert reply.status in TEST_STATUSES and 0.0 <= reply.score <= 1.0


@FUZZ
@given(media=request_media(), actions=ACTIONS, reference=REFERENCE)
def test_evaluate_answers_ok_or_invalid_argument(
    gateway_channel: grpc.Channel, media: pb.Media, actions: list[int], reference: pb.Image | None
) -> None:
    stub = pb_grpc.LivenessStub(gateway_channel)
    request = pb.EvaluateRequest(media=media, challenge=pb.Challenge(actions=actions), reference=reference)
    try:
        reply = stub.Evaluate(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        assert exc.code() in ANSWERS, (exc.code(), exc.details())  # type: ignore[attr-defined]
        return
    assert reply.decision != pb.DECISION_UNSPECIFIED and not reply.degraded


@FUZZ
@given(raw=st.binary(max_size=2048) | check_requests().map(lambda r: r.SerializeToString()[:-1]))
def test_corrupt_wire_bytes_are_invalid_argument(double_channel: grpc.Channel, raw: bytes) -> None:
    """Bytes that may not even parse as a CheckRequest: INVALID_ARGUMENT (or OK when they happen to)."""
    call = double_channel.unary_unary("/liveness.v1.LivenessTest/Check")
    try:
        call(raw, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        assert exc.code() in ANSWERS, (exc.code(), exc.details())  # type: ignore[attr-defined]
