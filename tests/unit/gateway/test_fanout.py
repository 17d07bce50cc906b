"""The fan-out against stand-in stubs (no server): what each test is sent, and the answers it hands back as
domain values, whatever the test did."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc
import pytest

from gateway.backends import Backend
from gateway.breaker import BreakerSettings
from gateway.config import Endpoint
from gateway.fanout import Outgoing, fan_out
from gateway.routing import plan
from liveness.types import Action, ActionResult, Status, TestAnswer, TestInfo
from liveness.v1 import liveness_pb2 as pb


class Stub:
    """Answers Check with `reply`, or raises `error`; keeps what it was sent."""

    def __init__(self, reply: pb.CheckResponse | None = None, error: grpc.StatusCode | None = None) -> None:
        self.reply = reply
        self.error = error
        self.sent: list[tuple[pb.CheckRequest, float, dict[str, str]]] = []

    async def Check(
        self, request: pb.CheckRequest, timeout: float, metadata: tuple[tuple[str, str], ...]
    ) -> pb.CheckResponse:
        self.sent.append((request, timeout, dict(metadata)))
        if self.error is not None:
            raise grpc.aio.AioRpcError(
                self.error, grpc.aio.Metadata(), grpc.aio.Metadata(), "stand-in failure"
            )
        assert self.reply is not None
        return self.reply


def _info(name: str, clip: bool) -> TestInfo:
    return TestInfo(name, f"{name}-1", not clip, clip, 2 if clip else 1, 3 if clip else 1, needs_face=False)


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, Backend]]:
    made = {}
    for name, clip in (("image", False), ("clip", True), ("down", False)):
        # Nothing listens there; every call below goes to the stand-in stub instead.
        backend = Backend(Endpoint(name, "127.0.0.1:9", 1.0), 30.0, breaker=BreakerSettings(failures=1))
        backend.info = None if name == "down" else _info(name, clip)
        made[name] = backend
    yield made
    for backend in made.values():
        await backend.close()


FRAMES = [(f"jpeg-{i}".encode(), 100 * i) for i in range(5)]
OUTGOING = Outgoing("rid-1", FRAMES, (Action.BLINK,), reference=b"ref")


async def test_each_test_gets_its_frames_and_the_answers_come_back_by_configured_name(
    backends: dict[str, Backend],
) -> None:
    image = Stub(pb.CheckResponse(test="image", model_version="image-1", score=0.7, status=pb.STATUS_OK))
    clip_reply = pb.CheckResponse(test="renamed", model_version="clip-1", score=0.4, status=pb.STATUS_OK)
    clip_reply.challenge_results.add(action=pb.ACTION_BLINK, satisfied=True, frame_index=1, confidence=0.5)
    clip = Stub(clip_reply)
    backends["image"].stub, backends["clip"].stub = image, clip  # type: ignore[assignment]
    order = list(backends.values())
    route = plan([b.candidate for b in order], len(FRAMES), True, OUTGOING.challenge)
    answers = await fan_out(order, route, OUTGOING, None, time.monotonic() + 1, time.monotonic() + 1)

    assert list(answers) == ["image", "clip", "down"]
    assert answers["image"] == TestAnswer("image", "image-1", Status.OK, pytest.approx(0.7))
    assert answers["clip"].test == "renamed"  # kept as the test sent it, under its configured name
    assert answers["clip"].challenge == (ActionResult(Action.BLINK, True, 1, 0.5),)
    assert answers["down"] == TestAnswer(
        "down", "", Status.UNAVAILABLE, detail="cannot describe test (not described yet)"
    )

    ((sent, timeout, metadata),) = image.sent
    assert sent.media.image.data == b"jpeg-2" and not sent.media.HasField("clip")  # the chosen frame
    assert [a for a in sent.challenge.actions] == [pb.ACTION_BLINK] and sent.reference.data == b"ref"
    assert sent.request_id == "rid-1" and metadata["x-request-id"] == "rid-1" and 0 < timeout <= 1
    ((sent, _, _),) = clip.sent
    assert [(f.image.data, f.timestamp_ms) for f in sent.media.clip.frames] == [
        (b"jpeg-0", 0),
        (b"jpeg-2", 200),
        (b"jpeg-4", 400),
    ]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, Status.TIMEOUT),
        (grpc.StatusCode.UNAVAILABLE, Status.UNAVAILABLE),
        (grpc.StatusCode.INTERNAL, Status.ERROR),
    ],
)
async def test_a_failed_call_is_an_answer_and_counts_against_the_breaker(
    backends: dict[str, Backend], code: grpc.StatusCode, status: Status
) -> None:
    backend = backends["image"]
    backend.stub = Stub(error=code)  # type: ignore[assignment]
    route = plan([backend.candidate], 1, False)
    deadline = time.monotonic() + 1
    answer = (await fan_out([backend], route, OUTGOING, None, deadline, deadline))["image"]
    assert (answer.test, answer.version, answer.status) == ("image", "image-1", status)
    assert answer.detail == f"{code.name}: stand-in failure" and answer.latency_ms >= 0
    # Timeouts and unreachable tests open the circuit (one failure here); the test's own errors do not.
    opened = status is not Status.ERROR
    assert backend.breaker.failures == (1 if opened else 0)
    again = (await fan_out([backend], route, OUTGOING, None, deadline, deadline))["image"]
    assert ("circuit open" in again.detail) is opened


async def test_no_time_left_and_unreadable_answers(backends: dict[str, Backend]) -> None:
    backend = backends["image"]
    stub = Stub(pb.CheckResponse(test="image", score=0.9, status=pb.STATUS_UNSPECIFIED))
    backend.stub = stub  # type: ignore[assignment]
    route = plan([backend.candidate], 1, False)
    past = time.monotonic() - 0.1
    late = (await fan_out([backend], route, OUTGOING, None, past, past))["image"]
    assert (late.status, late.detail, stub.sent) == (Status.TIMEOUT, "no time left in the budget", [])
    deadline = time.monotonic() + 1
    odd = (await fan_out([backend], route, OUTGOING, None, deadline, deadline))["image"]
    assert odd.status is Status.ERROR and "not a known status" in odd.detail


async def test_a_box_only_test_gets_face_regions_without_landmarks() -> None:
    import numpy as np

    from gateway.faces import FaceJob
    from liveness.types import Box, Face, FaceObservation

    class Ready(FaceJob):
        """A face search that has already found one face, with landmarks, in frame 0 (no executor)."""

        def __init__(self) -> None:
            face = Face(Box(1.0, 2.0, 30.0, 40.0), np.zeros((68, 2), np.float32))
            self.ready = {0: FaceObservation(0, 1, face)}
            self._regions = {}
            self.error = None
            self.turns = 0

    stubs = {}
    made = []
    for name, box_only in (("boxes", True), ("points", False)):
        backend = Backend(Endpoint(name, "127.0.0.1:9", 1.0), 30.0, breaker=BreakerSettings(failures=1))
        backend.info = TestInfo(name, f"{name}-1", True, False, needs_face=True, face_box_only=box_only)
        stubs[name] = backend.stub = Stub(pb.CheckResponse(test=name, score=0.5, status=pb.STATUS_OK))  # type: ignore[assignment]
        made.append(backend)
    try:
        route = plan([b.candidate for b in made], 1, False)
        outgoing = Outgoing("rid-2", [(b"jpeg", 0)])
        await fan_out(made, route, outgoing, Ready(), time.monotonic() + 1, time.monotonic() + 1)
    finally:
        for backend in made:
            await backend.close()
    ((boxes, _, _),) = stubs["boxes"].sent
    ((points, _, _),) = stubs["points"].sent
    assert boxes.faces[0].box.right == 30.0 and len(boxes.faces[0].landmarks) == 0
    assert points.faces[0].box.right == 30.0 and len(points.faces[0].landmarks) == 68
