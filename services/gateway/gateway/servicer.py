"""Liveness.Evaluate, CreateSession and Describe: messages in, domain values through the pieces, messages out.

One Evaluate, in order:
1. the budget (gateway.budget): the gateway's own or the caller's deadline, whichever is shorter;
2. decoding: a small image on the event loop, anything else in the executor; bad input is INVALID_ARGUMENT,
   the budget running out first RESOURCE_EXHAUSTED (DEADLINE_EXCEEDED when the caller's deadline was the
   shorter);
3. the session, when the request carries one (gateway.sessions): burned at once; expired or used sessions
   fail with FAILED_PRECONDITION, forged ones with PERMISSION_DENIED. Its challenge replaces the client's;
4. routing (gateway.routing): which test gets which frames, from the tests' cached Describe answers
   (gateway.backends, refreshed when stale);
5. the face search (gateway.faces): detection on one keyframe, tracking through the other frames;
6. fan-out (gateway.fanout): every routed test concurrently, each within the budget, and with a session the
   flash-colour check (gateway.flash) on the face box the search found;
7. the decision (gateway.policy): fusion, then the challenge and flash rules, then the face's status.

A test that times out, is unreachable or fails is reported with that status and left out of fusion, and the
answer is marked degraded; the gateway itself fails only on bad input. Liveness.Describe answers the limits,
budget and tests (gateway.describe).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc

from gateway import policy, routing
from gateway.backends import DESCRIBE_TIMEOUT_S, Backend, open_backends, refresh_stale
from gateway.budget import Budget, budget_for
from gateway.config import GatewayConfig
from gateway.describe import describe
from gateway.faces import FaceJob
from gateway.fanout import Outgoing, fan_out
from gateway.flash import FlashCheck, FlashSchedule, check_flash, flash_box
from gateway.sessions import Session, SessionStore
from gateway.shared_state import RedisSessions, RedisState
from liveness.client import DEFAULT_MAX_MESSAGE_BYTES
from liveness.errors import FailedPrecondition, InvalidInput
from liveness.runtime import convert, tracing
from liveness.runtime.logging import annotate, request_id_var
from liveness.security import current_key_id
from liveness.types import Media, Status, TestAnswer
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision import face, track
from liveness.vision.decode import MediaLimits

log = logging.getLogger("gateway")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Liveness"].full_name
INLINE_DECODE_MAX_PIXELS = 256 * 256  # decoding this many pixels takes about 0.3 ms
# A test waits for its faces until this share of the budget is gone, then gets the frames that are ready.
# Once a clip's faces are ready its face tests answer within about 100-300 ms even at 4 clips in flight, so
# the face search gets 70 %: 24-frame clips at c=4 for 25 s (load average 7-10 from other jobs) came back
# degraded 49 of 78 times at 50 % (tracking not started by the cutoff: 0-1 of 24 frames ready), 1 of 67 at
# 70 % (p99 1942 ms); images at c=8 were not degraded either way (0 of 233-266).
FACE_WAIT_SHARE = 0.7


def _outcome(outcome: policy.Outcome) -> pb.CheckOutcome:
    return pb.CheckOutcome.Value("CHECK_OUTCOME_" + outcome.name)  # type: ignore[return-value]


def _session_result(verdict: policy.Verdict, flash: FlashCheck) -> pb.SessionResult:
    return pb.SessionResult(
        challenge_satisfied=verdict.challenge is policy.Outcome.PASSED,
        challenge_results=convert.action_results_to_proto(verdict.seen or ()),
        flash=pb.FlashResult(
            status=convert.status_to_proto(flash.status),
            correlation=flash.correlation,
            satisfied=flash.satisfied,
            detail=flash.detail,
        ),
    )


class GatewayServicer(pb_grpc.LivenessServicer):
    """Adapts Liveness to the gateway's pieces: converts messages and runs the steps in order."""

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
        self._weights = {b.name: b.endpoint.weight for b in self._backends}
        self._executor = executor
        self._limits = limits
        self._detector = detector
        self._sessions = sessions
        self._max_message_bytes = max_message_bytes
        self._tracking = tracking

    async def Describe(
        self, request: pb.LivenessDescribeRequest, context: grpc.aio.ServicerContext
    ) -> pb.LivenessDescribeResponse:
        await refresh_stale(self._backends, DESCRIBE_TIMEOUT_S)
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

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        start = time.monotonic()
        budget = budget_for(start, self._config.budget_ms, self._config.margin_ms, context.time_remaining())
        deadline = budget.deadline
        media = await self._decode(request, budget)
        session = await self._redeem(request, media)
        # Validated with the media: the client's challenge has only known actions.
        actions = session.challenge if session is not None else convert.actions_from_proto(request.challenge)

        await refresh_stale(self._backends, min(DESCRIBE_TIMEOUT_S, deadline - time.monotonic()))
        plan = routing.plan(
            [b.candidate for b in self._backends],
            len(media),
            media.is_clip,
            actions,
            flash=session is not None,
        )
        faces: FaceJob | None = None
        if plan.keyframe is not None:
            faces = FaceJob(
                media,
                plan.search_frames,
                plan.keyframe,
                self._executor,
                self._detector,
                self._tracking,
                plan.landmarks,
            )
        cutoff = start + FACE_WAIT_SHARE * (deadline - start)
        # At the cutoff every test call takes the frames that are ready: tracking further reaches no test.
        stop_tracking = (
            asyncio.get_running_loop().call_later(max(cutoff - time.monotonic(), 0.0), faces.stop_tracking)
            if faces is not None
            else None
        )
        rid = request_id_var.get() or request.request_id
        outgoing = Outgoing(
            request_id=rid,
            frames=convert.clip_pairs(request.media),
            challenge=plan.challenge,
            reference=request.reference.data if request.HasField("reference") else None,
        )
        calls = asyncio.create_task(fan_out(self._backends, plan, outgoing, faces, cutoff, deadline))
        flash_task = None
        if session is not None:
            assert faces is not None  # the plan searches faces for the flash check
            flash_task = asyncio.create_task(self._flash(session, faces, plan.chosen, cutoff, deadline))
        answers = await calls
        # What the face search found, as the tests saw it (NOT_APPLICABLE when no test needed a face).
        face_status = (
            faces.status(plan.chosen) if faces is not None and plan.face_frames else Status.NOT_APPLICABLE
        )
        flash = await flash_task if flash_task is not None else None
        if stop_tracking is not None:
            stop_tracking.cancel()
        if faces is not None:
            # Every test call has its faces or gave up on them: stop face work still queued or running, so
            # work for answered requests does not hold the shared executor under overload.
            faces.cancel()
        with tracing.span("fusion"):
            verdict = policy.decide(
                answers,
                self._weights,
                self._config.thresholds,
                self._config.calibration,
                actions,
                flash,
                face_status,
                faces.turns if faces is not None else 0,
            )
        response = pb.EvaluateResponse(
            request_id=rid,
            decision=pb.Decision.Value("DECISION_" + verdict.decision.name),
            score=verdict.score,
            tests=[self._test_result(name, answer, verdict) for name, answer in answers.items()],
            degraded=verdict.degraded,
            elapsed_ms=(time.monotonic() - start) * 1000.0,
            detail=verdict.detail,
            face_status=convert.status_to_proto(face_status),
            session=_session_result(verdict, flash) if session is not None and flash is not None else None,
            checks=pb.InteractiveChecks(challenge=_outcome(verdict.challenge), flash=_outcome(verdict.flash)),
        )
        annotate(
            decision=verdict.decision.name,
            session=session is not None,
            score=round(verdict.score, 4),
            degraded=verdict.degraded,
            tests=",".join(f"{name}=STATUS_{a.status.name}" for name, a in answers.items()),
        )
        return response

    def _test_result(self, name: str, answer: TestAnswer, verdict: policy.Verdict) -> pb.TestResult:
        return pb.TestResult(
            result=convert.answer_to_proto(answer), weight=self._weights[name], fused=name in verdict.fused
        )

    async def _decode(self, request: pb.EvaluateRequest, budget: Budget) -> Media:
        """The request's media, decoded and checked with the rest of what the client sent."""
        # A small image is decoded here on the event loop: that costs less than handing it to a worker thread
        # and waking the loop again. Its size comes from the header alone, so a big image, and every clip, is
        # decoded in the executor and the loop never stalls.
        media = tracing.traced(convert.decode_small_media, "decode")(
            request.media, self._limits, INLINE_DECODE_MAX_PIXELS
        )
        if media is not None:
            self._validate_options(request)
            return media
        validation = asyncio.get_running_loop().run_in_executor(
            self._executor, tracing.traced(self._validate, "decode"), request
        )
        try:
            return await asyncio.wait_for(
                asyncio.shield(validation), max(budget.deadline - time.monotonic(), 0.0)
            )
        except TimeoutError:
            # Decoding waits on the shared executor; when it cannot even finish within the budget the
            # gateway is overloaded (or the caller's deadline was too short: budget.exhausted says which),
            # and a fast, explicit refusal beats an answer after the deadline.
            validation.cancel()
            raise budget.exhausted("the request was decoded") from None

    def _validate(self, request: pb.EvaluateRequest) -> Media:
        """Decode and check everything the client sent, so bad input fails here with INVALID_ARGUMENT."""
        media = convert.decode_media(request.media, self._limits)
        self._validate_options(request)
        return media

    def _validate_options(self, request: pb.EvaluateRequest) -> None:
        convert.options_from_proto(
            request.challenge, request.reference, request.HasField("reference"), self._limits
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

    async def _flash(
        self, session: Session, faces: FaceJob, chosen: int, cutoff: float, deadline: float
    ) -> FlashCheck:
        """The flash check on the decoded clip, with the face box found for the tests."""
        schedule = FlashSchedule(session.flash)
        if not schedule.steps:
            return check_flash(faces.media.frames, faces.media.timestamps_ms, None, schedule, 0.0)
        try:
            ready = await faces.wait([faces.keyframe], deadline)
            if ready and ready[faces.keyframe].status is not Status.OK:
                ready = await faces.wait(faces.frames, cutoff)  # the box of another frame, if one has it
        except Exception:
            log.exception("face search failed")
            return FlashCheck(Status.ERROR, 0.0, False, "face search failed in the gateway")
        if not ready:
            return FlashCheck(Status.TIMEOUT, 0.0, False, "face detection did not finish within the budget")
        box = flash_box(list(ready.values()), chosen)
        minimum = self._config.sessions.flash_min_correlation
        media = faces.media  # turned with the face when only a turn showed it
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, check_flash, media.frames, media.timestamps_ms, box, schedule, minimum
        )


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
        self._backends = open_backends(
            self._config.tests, self._config.describe_ttl_s, self._backend_credentials, self._config.breaker
        )
        await asyncio.get_running_loop().run_in_executor(executor, face.load)
        # Best effort: tests that are not up yet are described on the first request that needs them.
        await refresh_stale(self._backends, DESCRIBE_TIMEOUT_S)
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
