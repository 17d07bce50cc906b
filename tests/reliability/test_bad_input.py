"""The bad-input battery over real loopback gRPC: the shared TestServicer (a double and every real test
whose artifact exists) and the gateway. Each case gets its documented code and message, valid oddities are
decoded to the right size, and memory stays bounded over repeated rounds.
"""

from __future__ import annotations

import gc
import re
import resource
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import pytest

from liveness.client import channel_options
from liveness.runtime.config import ServerSettings
from liveness.runtime.convert import decode_media
from liveness.runtime.testing import serve_model
from liveness.types import CheckOptions, FaceObservation, LivenessModel, Media, TestInfo, TestResult
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision.decode import DEFAULT_LIMITS
from tests.doubles import DoubleModel
from tests.reliability.battery import INVALID, MAX_MESSAGE_BYTES, OK, TEST_STATUSES, Case, case_ids, cases
from tests.reliability.harness import TEST_NAMES, ThreadedServer, find_real_service, rss_bytes, serve_gateway

CALL_TIMEOUT_S = 30.0  # generous: a hang shows up as DEADLINE_EXCEEDED, which no case expects
SETTINGS = ServerSettings(port=0, grace_s=0.0, max_message_bytes=MAX_MESSAGE_BYTES)


@dataclass
class RecordingModel(DoubleModel):
    """A DoubleModel that also keeps the (height, width) of the frames it was given."""

    shapes: list[tuple[int, int]] = field(default_factory=list)

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        self.shapes.append(tuple(media.frames[0].shape[:2]))  # type: ignore[arg-type]
        return super().check(media, faces, options)


@dataclass
class Target:
    """A running server under test and a synchronous channel to it."""

    name: str
    channel: grpc.Channel
    model: LivenessModel | None = None


def _channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=channel_options())


def _call_test(target: Target, case: Case) -> tuple[grpc.StatusCode, str, pb.CheckResponse | None]:
    stub = pb_grpc.LivenessTestStub(target.channel)
    try:
        return grpc.StatusCode.OK, "", stub.Check(case.check_request(), timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or "", None  # type: ignore[attr-defined]


def _call_gateway(target: Target, case: Case) -> tuple[grpc.StatusCode, str, pb.EvaluateResponse | None]:
    stub = pb_grpc.LivenessStub(target.channel)
    try:
        return grpc.StatusCode.OK, "", stub.Evaluate(case.evaluate_request(), timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or "", None  # type: ignore[attr-defined]


def _assert_code(case: Case, code: grpc.StatusCode, details: str) -> None:
    assert code.name == case.expect, f"{case.id}: expected {case.expect}, got {code.name}: {details}"
    if case.message:
        assert re.search(case.message, details), f"{case.id}: {details!r} does not match {case.message!r}"


def _accepts(info: TestInfo, case: Case) -> bool:
    """Whether a test with `info` judges the case's media (an image, or a clip of enough frames)."""
    if case.media.WhichOneof("kind") == "clip":
        return info.accepts_clip and len(case.media.clip.frames) >= info.min_frames
    return info.accepts_image


@pytest.fixture(scope="module", params=("double", *TEST_NAMES))
def service_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """A LivenessTest server: the double (needs faces, so face regions are validated) or a real test."""
    name = request.param
    if name == "double":
        model: LivenessModel = RecordingModel(needs_face=True)
    else:
        service, why = find_real_service(name)
        if service is None:
            pytest.skip(why)
        model = service.build()
    with ThreadedServer(lambda: serve_model(model, SETTINGS)) as running:
        with _channel(running.address) as channel:
            yield Target(name, channel, model)


@pytest.fixture(scope="module")
def gateway_target() -> Iterator[Target]:
    """A gateway over an image test (records frame sizes) and a face test; a real face detector runs."""
    iqa = RecordingModel("iqa", needs_face=False)
    face_test = DoubleModel("cnn2d", needs_face=True)
    with ThreadedServer(lambda: serve_gateway([(iqa, 1.0), (face_test, 1.0)], SETTINGS)) as running:
        with _channel(running.address) as channel:
            yield Target("gateway", channel, iqa)


@pytest.mark.parametrize("case", cases(), ids=case_ids())
def test_test_service_battery(service_target: Target, case: Case) -> None:
    info = service_target.model.info if service_target.model else None
    if case.faces and info is not None and not info.needs_face:
        pytest.skip(f"{service_target.name} does not use face regions, so it does not validate them")
    recorder = service_target.model if isinstance(service_target.model, RecordingModel) else None
    if recorder:
        recorder.shapes.clear()
    code, details, reply = _call_test(service_target, case)
    if case.faces and info is not None and not _accepts(info, case):
        # Routing comes before face regions: media the test cannot judge is NOT_APPLICABLE (documented),
        # whatever regions came with it; media and options are still validated first.
        assert code == grpc.StatusCode.OK and reply is not None, (code, details)
        assert reply.status == pb.STATUS_NOT_APPLICABLE, pb.Status.Name(reply.status)
        return
    _assert_code(case, code, details)
    if reply is not None:
        assert reply.status in TEST_STATUSES, f"{case.id}: status {pb.Status.Name(reply.status)}"
        assert 0.0 <= reply.score <= 1.0 and reply.test == (info.name if info else reply.test)
        if recorder and case.shape:
            assert recorder.shapes == [case.shape]


@pytest.mark.parametrize("case", [c for c in cases() if c.for_gateway], ids=lambda c: c.id)
def test_gateway_battery(gateway_target: Target, case: Case) -> None:
    recorder = gateway_target.model
    assert isinstance(recorder, RecordingModel)
    recorder.shapes.clear()
    code, details, reply = _call_gateway(gateway_target, case)
    _assert_code(case, code, details)
    if reply is not None:
        assert reply.decision != pb.DECISION_UNSPECIFIED and not reply.degraded, reply
        assert {t.result.test for t in reply.tests} == {"iqa", "cnn2d"}
        if case.shape:
            assert recorder.shapes == [case.shape]
    else:
        assert recorder.shapes == [], "refused input must not reach the tests"


@pytest.mark.parametrize("case", [c for c in cases() if c.expect == OK], ids=lambda c: c.id)
def test_valid_oddities_decode_to_the_documented_frames(case: Case) -> None:
    """The accepted cases decode to RGB uint8 frames of the documented size (EXIF rotation applied)."""
    media = decode_media(case.media, DEFAULT_LIMITS)
    assert len(media) == case.frames
    for frame in media.frames:
        assert frame.dtype.name == "uint8" and frame.shape == (*case.shape, 3)  # type: ignore[misc]
        assert frame.std() > 1.0  # real picture content, not a blank fill


def test_battery_covers_the_issue() -> None:
    """At least 30 cases, most of them refusals, each id unique."""
    ids = case_ids()
    assert len(ids) == len(set(ids)) and len(ids) >= 30
    assert sum(c.expect == INVALID for c in cases()) >= 30


def test_memory_stays_bounded_over_repeated_battery() -> None:
    """Six rounds of the whole battery against one server: resident memory levels off after the first few.

    Keeping every request alive would add about 30 MiB per round, so the last three rounds would add about
    90 MiB; measured here they add under 10 MiB, after the allocator's heaps settle over rounds 1 to 3 (+20
    to +90 MiB, depending on what ran before in this process).
    """
    model = RecordingModel(needs_face=True)
    with (
        ThreadedServer(lambda: serve_model(model, SETTINGS)) as running,
        _channel(running.address) as channel,
    ):
        target = Target("double", channel, model)
        rss_mib: list[float] = []
        peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(6):
            for case in cases():
                code, details, _ = _call_test(target, case)
                _assert_code(case, code, details)
            model.calls.clear()
            model.shapes.clear()
            gc.collect()
            rss_mib.append(rss_bytes() / 2**20)
        peak_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib) / 1024
    rounds = [round(r, 1) for r in rss_mib]
    print(f"RSS after each battery round (MiB): {rounds}; peak growth {peak_growth_mib:.1f} MiB")
    # Growth past the highest of the first three rounds: a heap the allocator trimmed in round 3 and refilled
    # later (755 -> 675 -> 733 MiB, seen under load) is not growth; 30 MiB more per round would be.
    assert rss_mib[5] - max(rss_mib[:3]) < 30, rss_mib
    assert peak_growth_mib < 256
