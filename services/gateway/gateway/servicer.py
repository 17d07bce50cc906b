"""Liveness.Evaluate: decode once, find the face once, call every applicable test within the budget, fuse.

Face geometry (gateway.faces): detection on one keyframe, tracking through the other frames. A test that
needs faces waits for its frames until half the budget is gone, then gets the frames that are ready.

Each backend call's deadline is the request's remaining budget minus a margin (a tighter client deadline
wins). A test that times out, is unreachable or fails is reported with that status and left out of fusion,
and the answer is marked degraded; the gateway itself fails only on bad input.

Liveness.CreateSession hands out a server-random challenge and flash sequence (gateway.sessions). An
Evaluate that carries the session burns it, sends the session's challenge to the tests, checks the flash
colours on the clip (gateway.flash) and applies the session rules (sessions.judge) to the fused decision.
Expired or used sessions fail with FAILED_PRECONDITION, forged ones with PERMISSION_DENIED. A challenge sent
without a session is applied the same way (gateway.interactive); EvaluateResponse.checks reports both checks.

Liveness.Describe answers the limits, budget and tests (gateway.describe). A caller's deadline too short to
do anything is DEADLINE_EXCEEDED, the gateway's own budget running out before decoding RESOURCE_EXHAUSTED
(gateway.budget).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import grpc

from gateway.breaker import Breaker, BreakerSettings
from gateway.budget import budget_for
from gateway.config import Endpoint, GatewayConfig
from gateway.describe import describe
from gateway.faces import FaceJob
from gateway.flash import FlashCheck, check_flash
from gateway.fusion import Vote, fuse
from gateway.interactive import Outcome, challenge_outcome, flash_outcome
from gateway.sessions import FlashSchedule, Session, SessionStore, judge
from gateway.shared_state import RedisSessions, RedisState
from liveness.client import DEFAULT_MAX_MESSAGE_BYTES, open_channel
from liveness.errors import FailedPrecondition, InvalidInput
from liveness.runtime import convert, tracing
from liveness.runtime.interceptors import REQUEST_ID_KEY
from liveness.runtime.logging import annotate, request_id_var
from liveness.security import current_key_id
from liveness.types import ActionResult, Box, FaceObservation, Media, Status, TestInfo
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision import face, track
from liveness.vision.decode import MediaLimits

log = logging.getLogger("gateway")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Liveness"].full_name
DESCRIBE_TIMEOUT_S = 0.5
INLINE_DECODE_MAX_PIXELS = 256 * 256  # decoding this many pixels takes about 0.3 ms
# A test waits for its faces until this share of the budget is gone, then gets the frames that are ready.
FACE_WAIT_SHARE = 0.5


class Backend:
    """A long-lived channel to one test, with its Describe answer cached for `ttl_s` and a circuit breaker
    (gateway.breaker) that every call to it goes through."""

    def __init__(
        self,
        endpoint: Endpoint,
        ttl_s: float,
        credentials: grpc.ChannelCredentials | None = None,
        breaker: BreakerSettings | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._channel = open_channel(endpoint.address, credentials)
        self.stub = pb_grpc.LivenessTestStub(self._channel)
        self._ttl_s = ttl_s
        self.info: TestInfo | None = None
        self._info_at = 0.0
        self.last_error = "not described yet"
        self.breaker = Breaker(breaker or BreakerSettings())

    @property
    def stale(self) -> bool:
        return self.info is None or time.monotonic() - self._info_at > self._ttl_s

    async def refresh(self, timeout_s: float) -> TestInfo | None:
        """Describe the test; on failure keep the last known info (a restart does not change routing)."""
        if not self.breaker.allow():
            return self.info
        try:
            msg = await self.stub.Describe(pb.DescribeRequest(), timeout=max(timeout_s, 0.001))
        except grpc.aio.AioRpcError as exc:
            self.last_error = f"{exc.code().name.lower()}: {exc.details()}"
            self.breaker.record(exc.code() not in _RPC_STATUS, self.last_error)
            return self.info
        self.breaker.record(True)
        info = convert.info_from_proto(msg)
        if info.name != self.endpoint.name:
            self.last_error = f"answers as test {info.name!r}"
            return self.info
        self.info, self._info_at = info, time.monotonic()
        return info

    async def close(self) -> None:
        await self._channel.close()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one backend gets: frame indexes of the request media (one index: an image request)."""

    backend: Backend
    frames: tuple[int, ...]
    as_clip: bool


def _gateway_result(
    endpoint: Endpoint, status: Status, detail: str, info: TestInfo | None = None, latency_ms: float = 0.0
) -> pb.CheckResponse:
    return pb.CheckResponse(
        test=endpoint.name,
        model_version=info.version if info else "",
        score=0.0,
        status=convert.status_to_proto(status),
        detail=detail,
        latency_ms=latency_ms,
    )


def _face_status(faces: FaceJob | None, chosen: int) -> Status:
    """What the face search found in the chosen frame: NOT_APPLICABLE when no test needed a face (nothing
    was looked for), TIMEOUT when no frame was ready within the budget, ERROR when the search failed."""
    return Status.NOT_APPLICABLE if faces is None else faces.status(chosen)


def _challenge_results(answers: Sequence[pb.CheckResponse]) -> list[ActionResult] | None:
    """The challenge results of the first test that answered OK with some, or None when none did."""
    for answer in answers:
        if answer.status == pb.STATUS_OK and len(answer.challenge_results):
            try:
                actions = convert.actions_from_proto(
                    pb.Challenge(actions=[r.action for r in answer.challenge_results])
                )
            except InvalidInput:  # a test's bug, not the client's: the challenge stays unverified
                log.warning("unknown action in challenge results", extra={"test": answer.test})
                return None
            return [
                ActionResult(a, r.satisfied, r.frame_index, r.confidence)
                for a, r in zip(actions, answer.challenge_results, strict=True)
            ]
    return None


def _flash_box(observations: Sequence[FaceObservation], chosen: int) -> Box | None:
    """The face box of the chosen frame, else of any frame with exactly one face."""
    ordered = sorted(observations, key=lambda o: abs(o.frame_index - chosen))
    for obs in ordered:
        if obs.status is Status.OK and obs.face is not None:
            return obs.face.box
    return None


def _outcome(outcome: Outcome) -> pb.CheckOutcome:
    return pb.CheckOutcome.Value("CHECK_OUTCOME_" + outcome.name)  # type: ignore[return-value]


def _metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    """A test call's metadata: the request id and the W3C trace context (runtime.tracing)."""
    return ((REQUEST_ID_KEY, request_id), *tracing.outgoing_metadata())


_RPC_STATUS = {
    grpc.StatusCode.DEADLINE_EXCEEDED: Status.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: Status.UNAVAILABLE,
}


class GatewayServicer(pb_grpc.LivenessServicer):
    """Adapts Liveness.Evaluate to concurrent LivenessTest calls plus fusion."""

    def __init__(
        self,
        config: GatewayConfig,
        backends: Sequence[Backend],
        executor: ThreadPoolExecutor,
        limits: MediaLimits,
        detector: face.DetectorSettings = face.DEFAULT_DETECTOR,
        sessions: SessionStore | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        tracking: track.TrackSettings = track.DEFAULT_TRACK,
    ) -> None:
        self._config = config
        self._backends = list(backends)
        self._executor = executor
        self._limits = limits
        self._detector = detector
        self._sessions = sessions
        self._max_message_bytes = max_message_bytes
        self._tracking = tracking

    async def Describe(
        self, request: pb.LivenessDescribeRequest, context: grpc.aio.ServicerContext
    ) -> pb.LivenessDescribeResponse:
        stale = [b for b in self._backends if b.stale]
        if stale:
            await asyncio.gather(*(b.refresh(DESCRIBE_TIMEOUT_S) for b in stale))
        tests = [(b.endpoint, b.info, b.last_error) for b in self._backends]
        return describe(
            self._config, self._limits, self._max_message_bytes, tests, self._sessions is not None
        )

    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSessionResponse:
        if self._sessions is None:
            raise FailedPrecondition("sessions are not enabled on this gateway")
        session = await self._sessions.create(owner=current_key_id.get())
        annotate(session_actions=len(session.challenge), session_flash_steps=len(session.flash))
        return pb.CreateSessionResponse(
            session_id=session.token,
            nonce=session.nonce,
            expires_at_ms=session.expires_at_ms,
            challenge=pb.Challenge(actions=[convert.action_to_proto(a) for a in session.challenge]),
            flash=pb.FlashSequence(
                steps=[
                    pb.FlashStep(
                        color=pb.Color(red=s.color[0], green=s.color[1], blue=s.color[2]),
                        duration_ms=s.duration_ms,
                    )
                    for s in session.flash
                ]
            ),
        )

    async def _redeem(self, request: pb.EvaluateRequest, media: Media) -> Session | None:
        """The request's session, burned; None without one. Raises on every session rule broken."""
        if not request.session_id and not request.nonce:
            if self._sessions is not None and self._sessions.settings.required:
                raise FailedPrecondition("this gateway requires a session: call CreateSession first")
            return None
        if self._sessions is None:
            raise FailedPrecondition("sessions are not enabled on this gateway")
        if len(request.challenge.actions):
            raise InvalidInput("challenge: a session sets the challenge; leave it empty")
        if not media.is_clip:
            raise InvalidInput(
                "session_id: a session needs a clip that answers its challenge, not a single image"
            )
        return await self._sessions.redeem(request.session_id, request.nonce, owner=current_key_id.get())

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        start = time.monotonic()
        budget = budget_for(start, self._config.budget_ms, self._config.margin_ms, context.time_remaining())
        deadline = budget.deadline
        loop = asyncio.get_running_loop()
        # A small image is decoded here on the event loop: that costs less than handing it to a worker thread
        # and waking the loop again. Its size comes from the header alone, so a big image, and every clip, is
        # decoded in the executor and the loop never stalls.
        media = tracing.traced(convert.decode_small_media, "decode")(
            request.media, self._limits, INLINE_DECODE_MAX_PIXELS
        )
        if media is not None:
            self._validate_options(request)
        else:
            validation = loop.run_in_executor(
                self._executor, tracing.traced(self._validate, "decode"), request
            )
            try:
                media = await asyncio.wait_for(
                    asyncio.shield(validation), max(deadline - time.monotonic(), 0.0)
                )
            except TimeoutError:
                # Decoding waits on the shared executor; when it cannot even finish within the budget the
                # gateway is overloaded (or the caller's deadline was too short: budget.exhausted says which),
                # and a fast, explicit refusal beats an answer after the deadline.
                validation.cancel()
                raise budget.exhausted("the request was decoded") from None
        session = await self._redeem(request, media)
        challenge = request.challenge
        if session is not None:
            challenge = pb.Challenge(actions=[convert.action_to_proto(a) for a in session.challenge])

        stale = [b for b in self._backends if b.stale]
        if stale:
            await asyncio.gather(
                *(b.refresh(min(DESCRIBE_TIMEOUT_S, deadline - time.monotonic())) for b in stale)
            )

        chosen = len(media) // 2
        plans, skipped = self._route(media, chosen)
        face_frames = sorted(
            {i for p in plans if p.backend.info and p.backend.info.needs_face for i in p.frames}
        )
        faces: FaceJob | None = None
        if face_frames or session is not None:
            # The flash check needs the face box too; without face tests it gets the chosen frame's.
            wanted = face_frames or [chosen]
            keyframe = min(wanted, key=lambda i: abs(i - chosen))
            faces = FaceJob(media, wanted, keyframe, self._executor, self._detector, self._tracking)
        cutoff = start + FACE_WAIT_SHARE * (deadline - start)
        rid = request_id_var.get() or request.request_id
        tasks = [
            asyncio.create_task(self._call(p, request, challenge, faces, cutoff, deadline, rid))
            for p in plans
        ]
        flash_task = None
        if session is not None:
            assert faces is not None
            flash_task = asyncio.create_task(self._flash(session, faces, chosen, cutoff, deadline))
        answers = {
            p.backend.endpoint.name: a for p, a in zip(plans, await asyncio.gather(*tasks), strict=True)
        }
        answers.update(skipped)

        face_status = _face_status(faces if face_frames else None, chosen)

        votes, results = [], []
        for backend in self._backends:
            ep = backend.endpoint
            answer = answers[ep.name]
            status = convert.status_from_proto(answer.status)
            votes.append(Vote(ep.name, ep.weight, status, answer.score))
            results.append((ep, answer))
        with tracing.span("fusion"):
            fused = fuse(votes, self._config.thresholds, self._config.calibration)
        detail = fused.detail
        decision = fused.decision
        flash = await flash_task if flash_task is not None else None
        if faces is not None:
            # Every test call has its faces or gave up on them: stop face work still queued or running, so
            # work for answered requests does not hold the shared executor under overload.
            faces.cancel()
        session_result = None
        actions = session.challenge if session is not None else convert.actions_from_proto(request.challenge)
        seen = _challenge_results([a for _, a in results]) if actions else None
        if actions or flash is not None:
            decision, why = judge(
                decision,
                actions,
                seen,
                flash.status if flash else Status.NOT_APPLICABLE,
                flash.satisfied if flash else True,
                flash.detail if flash else "",
            )
            if why:
                detail = f"{why}; {detail}"
        if session is not None and flash is not None:
            session_result = pb.SessionResult(
                challenge_satisfied=challenge_outcome(actions, seen) is Outcome.PASSED,
                challenge_results=[
                    pb.ActionResult(
                        action=convert.action_to_proto(r.action),
                        satisfied=r.satisfied,
                        frame_index=r.frame_index,
                        confidence=r.confidence,
                    )
                    for r in seen or ()
                ],
                flash=pb.FlashResult(
                    status=convert.status_to_proto(flash.status),
                    correlation=flash.correlation,
                    satisfied=flash.satisfied,
                    detail=flash.detail,
                ),
            )
        if face_status in (Status.NO_FACE, Status.MULTIPLE_FACES):
            detail = f"{face_status.name.lower().replace('_', ' ')} in the frame; {detail}"
        elif faces is not None and faces.turns:
            detail = (
                f"face found with the frame turned by {90 * faces.turns} degrees; judged turned; {detail}"
            )
        response = pb.EvaluateResponse(
            request_id=rid,
            decision=pb.Decision.Value("DECISION_" + decision.name),
            score=fused.score,
            tests=[
                pb.TestResult(result=a, weight=ep.weight, fused=ep.name in fused.fused) for ep, a in results
            ],
            degraded=fused.degraded,
            elapsed_ms=(time.monotonic() - start) * 1000.0,
            detail=detail,
            face_status=convert.status_to_proto(face_status),
            session=session_result,
            checks=pb.InteractiveChecks(
                challenge=_outcome(challenge_outcome(actions, seen)), flash=_outcome(flash_outcome(flash))
            ),
        )
        annotate(
            decision=decision.name,
            session=session is not None,
            score=round(fused.score, 4),
            degraded=fused.degraded,
            tests=",".join(f"{ep.name}={pb.Status.Name(a.status)}" for ep, a in results),
        )
        return response

    async def _flash(
        self, session: Session, faces: FaceJob, chosen: int, cutoff: float, deadline: float
    ) -> FlashCheck:
        """The flash check on the decoded clip, with the face box found for the tests."""
        schedule = FlashSchedule(session.flash)
        if not schedule.steps:
            return check_flash(faces.media.frames, faces.media.timestamps_ms, None, schedule, 0.0)
        loop = asyncio.get_running_loop()
        try:
            ready = await faces.wait([faces.keyframe], deadline)
            if ready and ready[faces.keyframe].status is not Status.OK:
                ready = await faces.wait(faces.frames, cutoff)  # the box of another frame, if one has it
        except Exception:
            log.exception("face search failed")
            return FlashCheck(Status.ERROR, 0.0, False, "face search failed in the gateway")
        if not ready:
            return FlashCheck(Status.TIMEOUT, 0.0, False, "face detection did not finish within the budget")
        box = _flash_box(list(ready.values()), chosen)
        minimum = self._config.sessions.flash_min_correlation
        media = faces.media  # turned with the face when only a turn showed it
        return await loop.run_in_executor(
            self._executor, check_flash, media.frames, media.timestamps_ms, box, schedule, minimum
        )

    def _validate(self, request: pb.EvaluateRequest) -> Media:
        """Decode and check everything the client sent, so bad input fails here with INVALID_ARGUMENT."""
        media = convert.decode_media(request.media, self._limits)
        self._validate_options(request)
        return media

    def _validate_options(self, request: pb.EvaluateRequest) -> None:
        convert.options_from_proto(
            request.challenge, request.reference, request.HasField("reference"), self._limits
        )

    def _route(self, media: Media, chosen: int) -> tuple[list[_Plan], dict[str, pb.CheckResponse]]:
        """Which backend gets what: clips to clip tests, the chosen frame to image tests."""
        plans: list[_Plan] = []
        skipped: dict[str, pb.CheckResponse] = {}
        for backend in self._backends:
            info, ep = backend.info, backend.endpoint
            if info is None:
                skipped[ep.name] = _gateway_result(
                    ep, Status.UNAVAILABLE, f"cannot describe test ({backend.last_error})"
                )
            elif media.is_clip and info.accepts(media):
                frames = convert.evenly_spaced(len(media), max(info.max_frames, 1))
                plans.append(_Plan(backend, tuple(frames), as_clip=True))
            elif info.accepts_image:
                plans.append(_Plan(backend, (chosen,), as_clip=False))
            else:
                what = f"a clip of {len(media)} frames" if media.is_clip else "a single image"
                skipped[ep.name] = _gateway_result(
                    ep,
                    Status.NOT_APPLICABLE,
                    f"{ep.name} needs a clip of at least {info.min_frames} frames, got {what}",
                    info,
                )
        return plans, skipped

    async def _call(
        self,
        plan: _Plan,
        request: pb.EvaluateRequest,
        challenge: pb.Challenge,
        faces: FaceJob | None,
        cutoff: float,
        deadline: float,
        request_id: str,
    ) -> pb.CheckResponse:
        backend, ep, info = plan.backend, plan.backend.endpoint, plan.backend.info
        assert info is not None
        check = pb.CheckRequest(request_id=request_id, challenge=challenge)
        if request.HasField("reference"):
            check.reference.CopyFrom(request.reference)
        pairs = convert.clip_pairs(request.media)
        frames: Sequence[int] = plan.frames
        data = [pairs[i][0] for i in frames]
        if info.needs_face and faces is not None:
            try:
                ready = await faces.wait(plan.frames, min(cutoff, deadline))
                frames = [i for i in plan.frames if i in ready]
                enough = len(frames) >= (info.min_frames if plan.as_clip else 1)
                if enough:
                    data = await faces.frame_bytes([p[0] for p in pairs], frames)
            except Exception:
                log.exception("face search failed")
                return _gateway_result(ep, Status.ERROR, "face detection failed in the gateway", info)
            if not enough:
                return _gateway_result(
                    ep,
                    Status.TIMEOUT,
                    f"face detection finished {len(frames)} of {len(plan.frames)} frames within the budget",
                    info,
                )
            picked = [replace(ready[i], frame_index=j) for j, i in enumerate(frames)]
            check.faces.extend(convert.faces_to_proto(picked))
        if plan.as_clip:
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
            return _gateway_result(ep, Status.TIMEOUT, "no time left in the budget", info)
        if not backend.breaker.allow():  # it timed out or was unreachable again and again: answer without it
            return _gateway_result(ep, Status.UNAVAILABLE, backend.breaker.describe(), info)
        sent = time.monotonic()
        try:
            with tracing.client_span(f"LivenessTest/Check {ep.name}", test=ep.name):
                answer = await backend.stub.Check(check, timeout=timeout_s, metadata=_metadata(request_id))
        except grpc.aio.AioRpcError as exc:
            status = _RPC_STATUS.get(exc.code(), Status.ERROR)
            detail = f"{exc.code().name}: {exc.details()}"
            backend.breaker.record(exc.code() not in _RPC_STATUS, detail)
            waited_ms = (time.monotonic() - sent) * 1000.0
            return _gateway_result(ep, status, detail, info, waited_ms)
        backend.breaker.record(True)
        return answer


class GatewayApp:
    """The gateway service for the shared runtime: backends open at start, close at shutdown."""

    name = "gateway"

    def __init__(
        self,
        config: GatewayConfig,
        limits: MediaLimits,
        backend_credentials: grpc.ChannelCredentials | None = None,
        session_key: bytes | None = None,
        shared: RedisState | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._config = config
        self._limits = limits
        self._max_message_bytes = max_message_bytes
        self._backend_credentials = backend_credentials
        self._shared = shared  # sessions in Redis, shared by every replica; None: in this process
        self._sessions = SessionStore(
            config.sessions,
            session_key or secrets.token_bytes(32),
            backend=RedisSessions(shared) if shared is not None else None,
        )
        self._backends: list[Backend] = []
        self._servicer: GatewayServicer | None = None

    @property
    def service_names(self) -> tuple[str, ...]:
        return (SERVICE_NAME,)

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_LivenessServicer_to_server(_Deferred(self), server)

    async def start(self, executor: ThreadPoolExecutor) -> None:
        self._backends = [
            Backend(ep, self._config.describe_ttl_s, self._backend_credentials, self._config.breaker)
            for ep in self._config.tests
        ]
        await asyncio.get_running_loop().run_in_executor(executor, face.load)
        # Best effort: tests that are not up yet are described on the first request that needs them.
        await asyncio.gather(*(b.refresh(DESCRIBE_TIMEOUT_S) for b in self._backends))
        self._servicer = GatewayServicer(
            self._config,
            self._backends,
            executor,
            self._limits,
            sessions=self._sessions,
            max_message_bytes=self._max_message_bytes,
        )

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self._backends))
        if self._shared is not None:
            await self._shared.close()

    @property
    def servicer(self) -> GatewayServicer:
        if self._servicer is None:
            from liveness.errors import ModelNotReady

            raise ModelNotReady("gateway is starting")
        return self._servicer


class _Deferred(pb_grpc.LivenessServicer):
    def __init__(self, app: GatewayApp) -> None:
        self._app = app

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        return await self._app.servicer.Evaluate(request, context)

    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSessionResponse:
        return await self._app.servicer.CreateSession(request, context)

    async def Describe(
        self, request: pb.LivenessDescribeRequest, context: grpc.aio.ServicerContext
    ) -> pb.LivenessDescribeResponse:
        return await self._app.servicer.Describe(request, context)
