"""Fan-out: call every test of a routing plan concurrently, within the budget, and read the answers.

Each call gets the frames its plan names, in the client's own encoding (or re-encoded when the face showed
only with the frames turned), the challenge and the reference image. A test that needs faces waits for the
face search (gateway.faces) until `cutoff`, then gets the frames that are ready, or answers TIMEOUT when too
few are. Each call's deadline is the request's `deadline` (a per-test `timeout_ms` may cut it shorter); it
goes through the test's circuit breaker (gateway.backends).

Whatever happens, each test gets an answer, as a domain value (liveness.types.TestAnswer): its own, or one
the gateway made (TIMEOUT, UNAVAILABLE, ERROR). The fan-out raises only on a bug.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

from gateway.backends import RPC_STATUS, Backend
from gateway.faces import FaceJob
from gateway.routing import Call, Plan
from liveness.runtime import convert, tracing
from liveness.runtime.interceptors import REQUEST_ID_KEY
from liveness.types import Action, Status, TestAnswer
from liveness.v1 import liveness_pb2 as pb

log = logging.getLogger("gateway")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What every test call of one request shares."""

    request_id: str
    frames: Sequence[tuple[bytes, int]]  # the request's encoded frames (one for an image), timestamp_ms
    challenge: tuple[Action, ...] = ()
    reference: bytes | None = None  # the encoded reference image, when the client sent one


def made(call: Call, status: Status, detail: str, latency_ms: float = 0.0) -> TestAnswer:
    """An answer the gateway makes for a test it could not hear from."""
    return TestAnswer(call.test, call.version, status, detail=detail, latency_ms=latency_ms)


def _metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    """A test call's metadata: the request id and the W3C trace context (runtime.tracing)."""
    return ((REQUEST_ID_KEY, request_id), *tracing.outgoing_metadata())


def _read(answer: pb.CheckResponse) -> TestAnswer:
    read = convert.answer_from_proto(answer)
    if len(answer.challenge_results) != len(read.challenge):
        # A test's bug, not the client's: the challenge stays unverified.
        log.warning("unknown action in challenge results", extra={"test": answer.test})
    return read


async def call_test(
    backend: Backend,
    call: Call,
    outgoing: Outgoing,
    faces: FaceJob | None,
    cutoff: float,
    deadline: float,
) -> TestAnswer:
    """One test's answer to `call`; never raises for what the test or the face search did."""
    ep = backend.endpoint
    check = pb.CheckRequest(
        request_id=outgoing.request_id,
        challenge=pb.Challenge(actions=[convert.action_to_proto(a) for a in outgoing.challenge]),
    )
    if outgoing.reference is not None:
        check.reference.data = outgoing.reference
    pairs = outgoing.frames
    frames: Sequence[int] = call.frames
    data = [pairs[i][0] for i in frames]
    if call.needs_face and faces is not None:
        try:
            ready = await faces.wait(call.frames, min(cutoff, deadline))
            frames = [i for i in call.frames if i in ready]
            enough = len(frames) >= call.min_frames
            if enough:
                data = await faces.frame_bytes([p[0] for p in pairs], frames)
        except Exception:
            log.exception("face search failed")
            return made(call, Status.ERROR, "face detection failed in the gateway")
        if not enough:
            return made(
                call,
                Status.TIMEOUT,
                f"face detection finished {len(frames)} of {len(call.frames)} frames within the budget",
            )
        check.faces.extend(faces.regions(frames, landmarks=call.landmarks))
    if call.as_clip:
        check.media.clip.frames.extend(
            pb.Frame(image=pb.Image(data=d), timestamp_ms=pairs[i][1])
            for d, i in zip(data, frames, strict=True)
        )
    else:
        check.media.image.data = data[0]
    timeout_s = deadline - time.monotonic()
    if ep.timeout_ms is not None:
        timeout_s = min(timeout_s, ep.timeout_ms / 1000.0)
    if timeout_s <= 0:
        return made(call, Status.TIMEOUT, "no time left in the budget")
    if not backend.breaker.allow():  # it timed out or was unreachable again and again: answer without it
        return made(call, Status.UNAVAILABLE, backend.breaker.describe())
    sent = time.monotonic()
    try:
        with tracing.client_span(f"LivenessTest/Check {ep.name}", test=ep.name):
            answer = await backend.stub.Check(
                check, timeout=timeout_s, metadata=_metadata(outgoing.request_id)
            )
    except grpc.aio.AioRpcError as exc:
        status = RPC_STATUS.get(exc.code(), Status.ERROR)
        detail = f"{exc.code().name}: {exc.details()}"
        backend.breaker.record(exc.code() not in RPC_STATUS, detail)
        return made(call, status, detail, (time.monotonic() - sent) * 1000.0)
    backend.breaker.record(True)
    return _read(answer)


async def fan_out(
    backends: Sequence[Backend],
    plan: Plan,
    outgoing: Outgoing,
    faces: FaceJob | None,
    cutoff: float,
    deadline: float,
) -> dict[str, TestAnswer]:
    """Every backend's answer by its configured name, in the order of `backends`: the plan's own answers for
    tests it does not call, the calls' answers for the others (whatever name a test gives itself)."""
    by_name: Mapping[str, Backend] = {b.name: b for b in backends}
    answers = await asyncio.gather(
        *(call_test(by_name[c.test], c, outgoing, faces, cutoff, deadline) for c in plan.calls)
    )
    found = {a.test: a for a in plan.answered}  # the plan's answers carry the configured names
    found.update((c.test, a) for c, a in zip(plan.calls, answers, strict=True))
    return {b.name: found[b.name] for b in backends}
