"""Sessions through a real loopback gateway: one test per rule of issue #10's "Sessions" section.

A challenge-verifying double stands in for the temporal test (it reports each requested action as seen or
not); clips are the astronaut re-lit by the session's flash colours (gateway.flash_synth).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

import grpc
import numpy as np
import pytest

from gateway.config import Endpoint, GatewayConfig, Thresholds
from gateway.flash import FlashSchedule, FlashStep
from gateway.flash_synth import Lighting, live_clip, replay_clip
from gateway.servicer import GatewayApp
from gateway.sessions import SessionSettings
from liveness.client import GatewayClient, clip_media, image_media
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.types import ActionResult, CheckOptions, FaceObservation, Media, TestResult
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import encode_jpeg
from liveness.vision.face import detect_boxes
from tests.doubles import DoubleModel

FPS = 8.0


@dataclass
class ChallengeDouble(DoubleModel):
    """A clip test that verifies challenges like temporal: each requested action seen, or none of them."""

    satisfy: bool = True

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        base = super().check(media, faces, options)
        seen = tuple(
            ActionResult(a, self.satisfy, i if self.satisfy else -1, 0.9 if self.satisfy else 0.1)
            for i, a in enumerate(options.challenge)
        )
        return replace(base, challenge=seen)


@asynccontextmanager
async def gateway(
    models: Sequence[DoubleModel], sessions: SessionSettings | None = None
) -> AsyncIterator[GatewayClient]:
    async with AsyncExitStack() as stack:
        endpoints = []
        for m in models:
            address = await stack.enter_async_context(serve_model(m))
            endpoints.append(Endpoint(m.name, address, 1.0))
        config = GatewayConfig(
            budget_ms=8000,
            tests=tuple(endpoints),
            thresholds=Thresholds(live=0.6, spoof=0.4),
            sessions=sessions or SessionSettings(),
        )
        settings = ServerSettings(port=0, grace_s=0)
        running = await server.start(GatewayApp(config, settings.limits), settings)
        try:
            async with GatewayClient(running.address) as client:
                yield client
        finally:
            await running.stop(0)


def schedule_of(session: pb.CreateSessionResponse) -> FlashSchedule:
    return FlashSchedule(
        tuple(
            FlashStep((s.color.red, s.color.green, s.color.blue), s.duration_ms) for s in session.flash.steps
        )
    )


def to_media(frames: Sequence[np.ndarray], times_ms: Sequence[int]) -> pb.Media:
    return clip_media([(encode_jpeg(f), t) for f, t in zip(frames, times_ms, strict=True)])


def live_answer(astronaut: np.ndarray, session: pb.CreateSessionResponse, seed: int = 0) -> pb.Media:
    box = detect_boxes(astronaut)[0]
    frames, times = live_clip(
        astronaut, box, schedule_of(session), Lighting(), FPS, np.random.default_rng(seed)
    )
    return to_media(frames, times)


def replay_answer(
    astronaut: np.ndarray, session: pb.CreateSessionResponse, other: FlashSchedule | None
) -> pb.Media:
    box = detect_boxes(astronaut)[0]
    frames, times = replay_clip(
        astronaut, box, schedule_of(session), other, Lighting(), FPS, np.random.default_rng(1)
    )
    return to_media(frames, times)


async def test_create_session_returns_id_nonce_expiry_challenge_and_flash() -> None:
    async with gateway([ChallengeDouble("temporal")]) as client:
        before_ms = time.time() * 1000
        a, b = await client.create_session(), await client.create_session()
    assert a.session_id and a.nonce and a.session_id != b.session_id and a.nonce != b.nonce
    assert 179_000 <= a.expires_at_ms - before_ms <= 181_000  # 3 minutes by default
    actions = list(a.challenge.actions)
    assert len(actions) == 2 and len(set(actions)) == 2 and pb.ACTION_UNSPECIFIED not in actions
    assert len(a.flash.steps) == 6
    assert all(250 <= s.duration_ms <= 400 for s in a.flash.steps)
    colours = [(s.color.red, s.color.green, s.color.blue) for s in a.flash.steps]
    assert all(x != y for x, y in zip(colours, colours[1:], strict=False))


async def test_live_clip_answering_the_session_is_live_and_gets_the_session_challenge(
    astronaut: np.ndarray,
) -> None:
    temporal = ChallengeDouble("temporal", score=0.9, accepts_image=False, min_frames=4, max_frames=16)
    async with gateway([temporal]) as client:
        session = await client.create_session()
        # A client-side challenge is not allowed with a session; the session's own goes to the tests.
        reply = await client.evaluate(live_answer(astronaut, session), session=session)
    assert reply.decision == pb.DECISION_LIVE, reply.detail
    assert reply.session.challenge_satisfied
    assert [r.action for r in reply.session.challenge_results] == list(session.challenge.actions)
    assert reply.session.flash.status == pb.STATUS_OK and reply.session.flash.satisfied
    assert reply.session.flash.correlation > 0.8
    assert reply.checks.challenge == pb.CHECK_OUTCOME_PASSED and reply.checks.flash == pb.CHECK_OUTCOME_PASSED
    sent = temporal.calls[0].options.challenge
    assert [f"ACTION_{a.name}" for a in sent] == [pb.Action.Name(a) for a in session.challenge.actions]


async def test_replayed_session_is_refused(astronaut: np.ndarray) -> None:
    async with gateway([ChallengeDouble("temporal", accepts_image=False)]) as client:
        session = await client.create_session()
        media = live_answer(astronaut, session)
        await client.evaluate(media, session=session)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(media, session=session)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already used" in err.value.details()


async def test_concurrent_replays_only_one_wins(astronaut: np.ndarray) -> None:
    async with gateway([ChallengeDouble("temporal", accepts_image=False)]) as client:
        session = await client.create_session()
        media = live_answer(astronaut, session)
        outcomes = await asyncio.gather(
            *(client.evaluate(media, session=session) for _ in range(3)), return_exceptions=True
        )
    ok = [o for o in outcomes if isinstance(o, pb.EvaluateResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(ok) == 1 and len(refused) == 2
    assert all(e.code() == grpc.StatusCode.FAILED_PRECONDITION for e in refused)


async def test_expired_session_is_refused(astronaut: np.ndarray) -> None:
    async with gateway(
        [ChallengeDouble("temporal", accepts_image=False)], SessionSettings(ttl_s=0.3)
    ) as client:
        session = await client.create_session()
        await asyncio.sleep(0.4)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(live_answer(astronaut, session), session=session)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "expired" in err.value.details()


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        # another id with the real signature
        (lambda s: ("A" * 22 + s.session_id[22:], s.nonce), "not one this gateway issued"),
        # a later expiry with the real signature
        (lambda s: (s.session_id.replace(".", ".9", 1), s.nonce), "not one this gateway issued"),
        (lambda s: ("made-up", s.nonce), "not one this gateway issued"),
        (lambda s: (s.session_id, s.nonce[::-1]), "nonce: does not match"),
    ],
)
async def test_forged_session_is_denied(astronaut: np.ndarray, forge: object, message: str) -> None:
    async with gateway([ChallengeDouble("temporal", accepts_image=False)]) as client:
        session = await client.create_session()
        forged = pb.CreateSessionResponse()
        forged.CopyFrom(session)
        forged.session_id, forged.nonce = forge(session)  # type: ignore[operator]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(live_answer(astronaut, session), session=forged)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and message in err.value.details()


async def test_challenge_not_followed_is_spoof(astronaut: np.ndarray) -> None:
    temporal = ChallengeDouble("temporal", score=0.9, accepts_image=False, satisfy=False)
    async with gateway([temporal]) as client:
        session = await client.create_session()
        reply = await client.evaluate(live_answer(astronaut, session), session=session)
    assert reply.decision == pb.DECISION_SPOOF and "challenge not followed" in reply.detail
    assert not reply.session.challenge_satisfied
    assert reply.checks.challenge == pb.CHECK_OUTCOME_FAILED and reply.checks.flash == pb.CHECK_OUTCOME_PASSED


async def test_challenge_unverified_without_temporal_is_uncertain(astronaut: np.ndarray) -> None:
    async with gateway([DoubleModel("iqa", score=0.95)]) as client:
        session = await client.create_session()
        reply = await client.evaluate(live_answer(astronaut, session), session=session)
    assert reply.decision == pb.DECISION_UNCERTAIN and "could not be verified" in reply.detail
    assert reply.checks.challenge == pb.CHECK_OUTCOME_UNVERIFIED


@pytest.mark.parametrize("recorded", ["other session", "no flash"])
async def test_replay_that_ignores_the_flash_is_spoof(astronaut: np.ndarray, recorded: str) -> None:
    temporal = ChallengeDouble("temporal", score=0.9, accepts_image=False)
    async with gateway([temporal]) as client:
        session = await client.create_session()
        other = schedule_of(await client.create_session()) if recorded == "other session" else None
        reply = await client.evaluate(replay_answer(astronaut, session, other), session=session)
    assert reply.session.flash.status == pb.STATUS_OK and not reply.session.flash.satisfied
    assert reply.decision == pb.DECISION_SPOOF and "flash" in reply.detail
    assert reply.checks.flash == pb.CHECK_OUTCOME_FAILED


async def test_session_needs_a_clip_and_owns_the_challenge(
    astronaut_jpeg: bytes, astronaut: np.ndarray
) -> None:
    async with gateway([ChallengeDouble("temporal")]) as client:
        session = await client.create_session()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(astronaut_jpeg), session=session)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "clip" in err.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(
                live_answer(astronaut, session),
                session=session,
                challenge=pb.Challenge(actions=[pb.ACTION_BLINK]),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "session sets" in err.value.details()
        # Refused requests did not burn the session.
        reply = await client.evaluate(live_answer(astronaut, session), session=session)
    assert reply.HasField("session")


async def test_required_sessions_refuse_plain_evaluate(astronaut_jpeg: bytes) -> None:
    async with gateway([DoubleModel("iqa")], SessionSettings(required=True)) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(astronaut_jpeg))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "CreateSession" in err.value.details()


CHALLENGE = pb.Challenge(actions=[pb.ACTION_BLINK, pb.ACTION_TURN_LEFT])


@pytest.mark.parametrize(
    ("satisfy", "decision", "outcome"),
    [(True, pb.DECISION_LIVE, pb.CHECK_OUTCOME_PASSED), (False, pb.DECISION_SPOOF, pb.CHECK_OUTCOME_FAILED)],
)
async def test_challenge_without_a_session_is_applied_to_the_decision(
    astronaut_jpeg: bytes, satisfy: bool, decision: int, outcome: int
) -> None:
    """A challenge the client sends itself is sent to the tests and judged as a session's (no flash)."""
    temporal = ChallengeDouble("temporal", score=0.9, accepts_image=False, min_frames=4, satisfy=satisfy)
    clip = clip_media([(astronaut_jpeg, 125 * i) for i in range(8)])
    async with gateway([DoubleModel("iqa", score=0.9), temporal]) as client:
        reply = await client.evaluate(clip, challenge=CHALLENGE)
    assert [a.name for a in temporal.calls[0].options.challenge] == ["BLINK", "TURN_LEFT"]
    assert reply.decision == decision, reply.detail
    assert reply.checks.challenge == outcome and reply.checks.flash == pb.CHECK_OUTCOME_NOT_REQUESTED
    assert not reply.HasField("session") and reply.score == pytest.approx(0.9)


async def test_challenge_with_an_image_is_unverified_and_uncertain(astronaut_jpeg: bytes) -> None:
    async with gateway(
        [DoubleModel("iqa", score=0.9), ChallengeDouble("temporal", accepts_image=False)]
    ) as c:
        reply = await c.evaluate(image_media(astronaut_jpeg), challenge=CHALLENGE)
        plain = await c.evaluate(image_media(astronaut_jpeg))
    assert reply.decision == pb.DECISION_UNCERTAIN and "could not be verified" in reply.detail
    assert reply.checks.challenge == pb.CHECK_OUTCOME_UNVERIFIED
    assert plain.decision == pb.DECISION_LIVE
    assert plain.checks.challenge == plain.checks.flash == pb.CHECK_OUTCOME_NOT_REQUESTED
