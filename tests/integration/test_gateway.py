"""The gateway over real loopback gRPC with test doubles behind it: routing, deadlines, degradation."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import grpc
import numpy as np
import pytest

from gateway.config import Endpoint, GatewayConfig, Thresholds
from gateway.servicer import GatewayApp
from liveness.client import GatewayClient, clip_media, image_media
from liveness.runtime import logging as jsonlog
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.stack import free_port
from liveness.v1 import liveness_pb2 as pb
from tests.conftest import encode
from tests.doubles import DoubleModel


@asynccontextmanager
async def gateway(
    models: list[DoubleModel],
    weights: dict[str, float] | None = None,
    dead: tuple[str, ...] = (),
    budget_ms: float = 2000.0,
) -> AsyncIterator[str]:
    """Doubles on free ports plus a gateway that calls them (and `dead` endpoints nobody listens on)."""
    async with AsyncExitStack() as stack:
        endpoints = []
        for m in models:
            address = await stack.enter_async_context(serve_model(m))
            endpoints.append(Endpoint(m.name, address, (weights or {}).get(m.name, 1.0)))
        endpoints += [Endpoint(n, f"127.0.0.1:{free_port()}", 1.0) for n in dead]
        # A wide margin: gateway, doubles and client share one event loop, which a busy machine slows.
        config = GatewayConfig(
            budget_ms=budget_ms,
            margin_ms=150,
            tests=tuple(endpoints),
            thresholds=Thresholds(live=0.6, spoof=0.4, min_weight_fraction=0.5),
        )
        settings = ServerSettings(port=0, grace_s=0)
        running = await server.start(GatewayApp(config, settings.limits), settings)
        try:
            yield running.address
        finally:
            for m in models:
                m.release.set()
            await running.stop(0)


def results(reply: pb.EvaluateResponse) -> dict[str, pb.TestResult]:
    return {t.result.test: t for t in reply.tests}


async def test_fan_out_and_fusion(astronaut_jpeg: bytes) -> None:
    a, b = DoubleModel("iqa", score=0.9), DoubleModel("cnn2d", score=0.7)
    async with gateway([a, b], weights={"iqa": 1, "cnn2d": 3}) as address, GatewayClient(address) as client:
        reply = await client.evaluate(image_media(astronaut_jpeg), request_id="r-1")
    assert reply.request_id == "r-1"
    assert reply.decision == pb.DECISION_LIVE and not reply.degraded
    assert reply.score == pytest.approx((0.9 * 1 + 0.7 * 3) / 4)
    by = results(reply)
    assert by["iqa"].fused and by["cnn2d"].fused and by["cnn2d"].weight == 3
    assert reply.elapsed_ms > 0
    # No test needs a face, so none was looked for: said so, never STATUS_UNSPECIFIED.
    assert reply.face_status == pb.STATUS_NOT_APPLICABLE


async def test_one_access_line_per_evaluate_carries_the_decision(astronaut_jpeg: bytes) -> None:
    """The gateway's outcome rides on the interceptor's access line: one line per request, not two."""
    stream = io.StringIO()
    jsonlog.configure("gateway", "INFO", stream)
    try:
        a, b = DoubleModel("iqa", score=0.9), DoubleModel("cnn2d", score=0.2)
        async with gateway([a, b]) as address, GatewayClient(address) as client:
            await client.evaluate(image_media(astronaut_jpeg), request_id="trace-7")
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [e for e in lines if e.get("request_id") == "trace-7" and e.get("rpc", "").endswith("/Evaluate")]
    assert len(mine) == 1, mine
    line = mine[0]
    assert line["msg"] == "rpc done" and line["status"] == "OK" and line["decision"] == "UNCERTAIN"
    assert line["score"] == pytest.approx(0.55) and line["degraded"] is False and line["session"] is False
    assert line["tests"] == "iqa=STATUS_OK,cnn2d=STATUS_OK" and line["latency_ms"] > 0


async def test_hanging_test_still_answers_within_budget(astronaut_jpeg: bytes) -> None:
    fast, stuck = DoubleModel("iqa", score=0.1), DoubleModel("cnn2d", hang=True)
    async with gateway([fast, stuck], budget_ms=600) as address, GatewayClient(address) as client:
        start = time.monotonic()
        reply = await client.evaluate(image_media(astronaut_jpeg))
        waited_s = time.monotonic() - start
    assert waited_s < 0.6 + 0.3  # the budget plus scheduling slack on a loaded 2-core machine
    by = results(reply)
    assert by["cnn2d"].result.status == pb.STATUS_TIMEOUT and not by["cnn2d"].fused
    assert reply.degraded and reply.decision == pb.DECISION_SPOOF and reply.score == pytest.approx(0.1)


async def test_tighter_client_deadline_wins(astronaut_jpeg: bytes) -> None:
    stuck = DoubleModel("cnn2d", hang=True)
    async with (
        gateway([DoubleModel("iqa"), stuck], budget_ms=5000) as address,
        GatewayClient(address) as client,
    ):
        start = time.monotonic()
        reply = await client.evaluate(image_media(astronaut_jpeg), timeout_s=0.8)
        assert time.monotonic() - start < 0.8
    assert results(reply)["cnn2d"].result.status == pb.STATUS_TIMEOUT and reply.degraded


async def test_unreachable_test_is_unavailable_and_degraded(astronaut_jpeg: bytes) -> None:
    async with (
        gateway([DoubleModel("iqa", score=0.95)], dead=("cnn2d",), weights={"iqa": 1}) as address,
        GatewayClient(address) as client,
    ):
        reply = await client.evaluate(image_media(astronaut_jpeg))
    by = results(reply)
    assert by["cnn2d"].result.status == pb.STATUS_UNAVAILABLE
    # iqa holds half the applicable weight, which meets min_weight_fraction 0.5
    assert reply.degraded and reply.decision == pb.DECISION_LIVE


async def test_score_under_uncertain_is_the_evidence_of_the_tests_that_answered(
    astronaut_jpeg: bytes,
) -> None:
    """As the proto defines it: too little weight answered -> UNCERTAIN with the score of those that did;
    nothing answered -> UNCERTAIN with score 0."""
    async with (
        gateway([DoubleModel("iqa", score=0.95)], dead=("cnn2d",), weights={"iqa": 0.5}) as address,
        GatewayClient(address) as client,
    ):
        few = await client.evaluate(image_media(astronaut_jpeg))
    assert few.decision == pb.DECISION_UNCERTAIN and few.score == pytest.approx(0.95)
    assert "only 0.50 of 1.50 weight answered" in few.detail
    async with gateway([], dead=("iqa",)) as address, GatewayClient(address) as client:
        none = await client.evaluate(image_media(astronaut_jpeg))
    assert none.decision == pb.DECISION_UNCERTAIN and none.score == 0.0 and "no test answered" in none.detail


async def test_routing_by_describe(astronaut_jpeg: bytes) -> None:
    image_only = DoubleModel("iqa", accepts_clip=False)
    clip_only = DoubleModel("temporal", accepts_image=False, min_frames=3, max_frames=4, needs_face=True)
    async with gateway([image_only, clip_only]) as address, GatewayClient(address) as client:
        reply = await client.evaluate(image_media(astronaut_jpeg))
        by = results(reply)
        assert by["temporal"].result.status == pb.STATUS_NOT_APPLICABLE and not reply.degraded
        assert clip_only.calls == []
        clip = clip_media([(astronaut_jpeg, 40 * i) for i in range(6)])
        reply = await client.evaluate(clip)
    assert {t.result.test: t.result.status for t in reply.tests} == {
        "iqa": pb.STATUS_OK,
        "temporal": pb.STATUS_OK,
    }
    assert [c.is_clip for c in image_only.calls] == [False, False]  # a chosen frame of the clip
    call = clip_only.calls[0]
    assert call.is_clip and call.frames == 4  # subsampled to its max_frames by the gateway
    # The gateway detected faces once and sent them: one observation per sent frame, renumbered.
    assert [o.frame_index for o in call.faces] == [0, 1, 2, 3] and all(o.count == 1 for o in call.faces)
    assert reply.face_status == pb.STATUS_OK


async def test_no_face_makes_face_tests_report_it(plain_jpeg: bytes) -> None:
    face_test = DoubleModel("cnn2d", needs_face=True)
    async with gateway([DoubleModel("iqa", score=0.9), face_test], weights={"iqa": 1, "cnn2d": 2}) as address:
        async with GatewayClient(address) as client:
            reply = await client.evaluate(image_media(plain_jpeg))
    assert reply.face_status == pb.STATUS_NO_FACE and "no face" in reply.detail
    assert results(reply)["cnn2d"].result.status == pb.STATUS_NO_FACE
    assert reply.decision == pb.DECISION_UNCERTAIN and not reply.degraded


@pytest.mark.parametrize(
    ("media", "message"),
    [
        (pb.Media(), "set either image or clip"),
        (image_media(b"\x00\x01garbage"), "not a JPEG, PNG or WebP"),
    ],
)
async def test_gateway_rejects_bad_input(media: pb.Media, message: str) -> None:
    async with gateway([DoubleModel("iqa")]) as address, GatewayClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(media)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in err.value.details()


async def test_recovers_when_a_test_comes_back(astronaut_jpeg: bytes) -> None:
    """A test that was down when the gateway started is used as soon as it is up (channel reconnects)."""
    port = free_port()
    config = GatewayConfig(tests=(Endpoint("iqa", f"127.0.0.1:{port}", 1.0),), describe_ttl_s=0.2)
    settings = ServerSettings(port=0, grace_s=0)
    running = await server.start(GatewayApp(config, settings.limits), settings)
    try:
        async with GatewayClient(running.address) as client:
            reply = await client.evaluate(image_media(astronaut_jpeg))
            assert reply.tests[0].result.status == pb.STATUS_UNAVAILABLE
            async with serve_model(DoubleModel("iqa", score=0.8), ServerSettings(port=port, grace_s=0)):
                for _ in range(50):
                    reply = await client.evaluate(image_media(astronaut_jpeg))
                    if reply.tests[0].result.status == pb.STATUS_OK:
                        break
                    await asyncio.sleep(0.1)
            assert reply.tests[0].result.status == pb.STATUS_OK and reply.decision == pb.DECISION_LIVE
    finally:
        await running.stop(0)


@asynccontextmanager
async def busy_gateway() -> AsyncIterator[str]:
    """A gateway without tests (budget 400 ms) whose only executor worker is kept busy."""
    config = GatewayConfig(budget_ms=400, margin_ms=50, tests=())
    settings = ServerSettings(port=0, grace_s=0, workers=1)
    running = await server.start(GatewayApp(config, settings.limits), settings)
    release = threading.Event()
    try:
        running.executor.submit(release.wait, 10.0)
        yield running.address
    finally:
        release.set()
        await running.stop(0)


async def test_overloaded_gateway_refuses_within_the_budget(astronaut_jpeg: bytes) -> None:
    """When decoding cannot even start in time (the executor is busy), the answer is a fast, explicit
    RESOURCE_EXHAUSTED rather than a reply after the deadline."""
    async with busy_gateway() as address, GatewayClient(address) as client:
        start = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(astronaut_jpeg), timeout_s=5)
        waited_s = time.monotonic() - start
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "overloaded" in err.value.details()
    assert waited_s < 0.4 + 0.3


async def test_busy_gateway_under_a_short_client_deadline_is_deadline_exceeded(astronaut_jpeg: bytes) -> None:
    """The same wait, but the caller's deadline (250 ms) is shorter than the gateway's budget (400 ms): the
    caller asked for too little time, which is DEADLINE_EXCEEDED, not overload."""
    async with busy_gateway() as address, GatewayClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(astronaut_jpeg), timeout_s=0.25)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_deadline_shorter_than_the_margin_is_deadline_exceeded_at_once(astronaut_jpeg: bytes) -> None:
    """A 50 ms deadline against a 150 ms margin: refused before any work, by the gateway itself (its
    message says why), not reported as overload."""
    model = DoubleModel("iqa")
    async with gateway([model]) as address, GatewayClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(astronaut_jpeg), timeout_s=0.05)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "150 ms margin" in err.value.details() and model.calls == []


async def test_describe_returns_limits_budget_and_tests() -> None:
    image_only = DoubleModel("iqa", accepts_clip=False, max_frames=1)
    clip_only = DoubleModel("temporal", accepts_image=False, min_frames=8, max_frames=16, needs_face=True)
    async with (
        gateway([image_only, clip_only], dead=("voxel3d",), budget_ms=1500) as address,
        GatewayClient(address) as client,
    ):
        info = await client.describe()
    limits = info.limits
    assert (limits.max_image_bytes, limits.max_pixels, limits.min_side, limits.max_frames) == (
        8 * 1024 * 1024,
        4096 * 4096,
        32,
        64,
    )
    assert limits.max_message_bytes == ServerSettings().max_message_bytes
    assert info.budget_ms == 1500 and info.margin_ms == 150
    assert info.live_threshold == pytest.approx(0.6) and info.spoof_threshold == pytest.approx(0.4)
    assert [t.name for t in info.tests] == ["iqa", "temporal", "voxel3d"]
    by = {t.name: t for t in info.tests}
    assert by["temporal"].available and by["temporal"].info.min_frames == 8 and by["temporal"].info.needs_face
    assert by["iqa"].info.accepts_image and not by["iqa"].info.accepts_clip
    assert not by["voxel3d"].available and not by["voxel3d"].HasField("info") and by["voxel3d"].detail
    assert info.min_clip_frames == 8 and info.clip_frames_used == 16
    assert info.sessions_enabled and not info.session_required


async def test_small_images_are_decoded_without_the_executor() -> None:
    """An image of at most INLINE_DECODE_MAX_PIXELS is decoded on the event loop (cheaper than the hop to a
    worker), so it is answered, or refused as bad input, even while the only worker is busy."""
    small = encode(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    async with busy_gateway() as address, GatewayClient(address) as client:
        reply = await client.evaluate(image_media(small), timeout_s=5)
        assert reply.decision != pb.DECISION_UNSPECIFIED and reply.elapsed_ms < 400
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(small[: len(small) // 2]), timeout_s=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "truncated" in err.value.details().lower()


@pytest.mark.parametrize("kind", ["image", "clip"])
async def test_refused_request_is_freed_at_once(kind: str) -> None:
    """A refused request leaves no reference cycle behind (it used to: the exception raised through grpc's
    frames kept every refused request, up to 8 MiB each, alive until the cyclic GC happened to run)."""
    noise = encode(np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    truncated = noise[: len(noise) // 2]  # the header is intact, so it is refused only when decoded
    media = (
        image_media(truncated) if kind == "image" else clip_media([(noise, 0), (noise, 40), (truncated, 80)])
    )
    config = GatewayConfig(tests=())
    settings = ServerSettings(port=0, grace_s=0)
    running = await server.start(GatewayApp(config, settings.limits), settings)
    try:
        async with GatewayClient(running.address) as client:
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)  # whatever a collection finds unreachable is kept for us to see
            try:
                for _ in range(3):
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await client.evaluate(media)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                gc.collect()
                cyclic = [o for o in gc.garbage if isinstance(o, pb.EvaluateRequest | pb.Media)]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
    finally:
        await running.stop(0)
    assert cyclic == []


async def test_face_status_is_not_applicable_when_no_test_needs_a_face(astronaut_jpeg: bytes) -> None:
    async with gateway([DoubleModel("iqa")]) as address, GatewayClient(address) as client:
        reply = await client.evaluate(image_media(astronaut_jpeg))
    assert reply.face_status == pb.STATUS_NOT_APPLICABLE


@pytest.mark.parametrize("k", [1, 3])
async def test_a_sideways_clip_is_judged_turned(astronaut: np.ndarray, k: int) -> None:
    """A phone frame held sideways: the face is found on the turned frames, and the tests get those."""
    sideways = encode(np.ascontiguousarray(np.rot90(astronaut[:, 40:], -k)))  # 472 high, 512 wide
    face_test = DoubleModel("cnn2d", needs_face=True, max_frames=8)
    # A long budget: on a loaded machine tracking may pass half of 2 s, and the test then (rightly) gets the
    # frames that are ready; this test is about turning, not timing.
    async with (
        gateway([DoubleModel("iqa"), face_test], budget_ms=20000) as address,
        GatewayClient(address) as client,
    ):
        reply = await client.evaluate(clip_media([(sideways, 40 * i) for i in range(6)]), timeout_s=25.0)
    assert reply.face_status == pb.STATUS_OK and "turned by" in reply.detail
    call = face_test.calls[0]
    assert call.shape == (512, 472, 3)  # upright again: as high as the sideways frame was wide
    assert len(call.faces) == 6 and all(o.status.name == "OK" for o in call.faces)


async def test_clip_tests_get_the_frames_ready_when_tracking_is_late(
    astronaut_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tracking slower than half the budget: a clip test gets the frames around the keyframe that are
    ready (at least its min_frames), not a timeout; face_status is the keyframe's."""
    from liveness.vision import track

    real_step = track.Tracker._step

    def slow_step(self, state, index):  # type: ignore[no-untyped-def]
        time.sleep(0.12)
        return real_step(self, state, index)

    monkeypatch.setattr(track.Tracker, "_step", slow_step)
    clip_test = DoubleModel("temporal", needs_face=True, accepts_image=False, min_frames=3, max_frames=16)
    async with (
        gateway([clip_test], budget_ms=1200) as address,
        GatewayClient(address) as client,
    ):
        reply = await client.evaluate(clip_media([(astronaut_jpeg, 40 * i) for i in range(16)]))
    assert reply.face_status == pb.STATUS_OK and not reply.degraded
    call = clip_test.calls[0]
    assert 3 <= call.frames < 16 and len(call.faces) == call.frames
    assert all(o.status.name == "OK" for o in call.faces)


async def test_a_keyframe_late_past_the_cutoff_is_a_timeout_not_unspecified(
    astronaut_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liveness.vision import face

    real = face.observe

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(face, "observe", slow)
    face_test = DoubleModel("cnn2d", needs_face=True)
    async with (
        gateway([DoubleModel("iqa", score=0.9), face_test], budget_ms=600) as address,
        GatewayClient(address) as client,
    ):
        reply = await client.evaluate(image_media(astronaut_jpeg))
    assert reply.face_status == pb.STATUS_TIMEOUT
    assert results(reply)["cnn2d"].result.status == pb.STATUS_TIMEOUT and reply.degraded
    assert face_test.calls == []
