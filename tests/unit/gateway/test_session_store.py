"""Session store, tokens and random challenges, without gRPC (the session rules: test_policy.py)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from gateway.sessions import (
    ACTIONS,
    PALETTE,
    MemorySessions,
    SessionBackend,
    SessionSettings,
    SessionStore,
    random_challenge,
    random_flash,
    session_key_from_env,
)
from gateway.shared_state import RedisSessions, RedisState
from liveness.errors import FailedPrecondition, InvalidInput, PermissionDenied, Unavailable
from liveness.types import Action
from tests.redis_server import RedisServer

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now_ms = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[SessionBackend | None]:
    """Each store test runs against the in-process store (None: the default) and against a real Redis."""
    if request.param == "memory":
        yield None
        return
    server = request.getfixturevalue("redis_server")
    state = RedisState(server.url, timeout_s=2.0)
    yield RedisSessions(state)
    await state.close()


def store(backend: SessionBackend | None = None, **kwargs: object) -> tuple[SessionStore, Clock]:
    clock = Clock()
    return SessionStore(SessionSettings(**kwargs), KEY, clock, backend), clock  # type: ignore[arg-type]


async def test_session_is_single_use(backend: SessionBackend | None) -> None:
    s, _ = store(backend)
    session = await s.create()
    assert await s.redeem(session.token, session.nonce) == session
    with pytest.raises(FailedPrecondition, match="already used"):
        await s.redeem(session.token, session.nonce)


async def test_expiry_uses_the_signed_time(backend: SessionBackend | None) -> None:
    s, clock = store(backend, ttl_s=180)
    session = await s.create()
    assert session.expires_at_ms == clock.now_ms + 180_000
    clock.now_ms += 180_000
    with pytest.raises(FailedPrecondition, match="expired"):
        await s.redeem(session.token, session.nonce)


async def test_expired_session_is_dropped_from_memory() -> None:
    s, clock = store(ttl_s=180)
    session = await s.create()
    clock.now_ms += 180_000
    with pytest.raises(FailedPrecondition, match="expired"):
        await s.redeem(session.token, session.nonce)
    assert isinstance(s.backend, MemorySessions) and len(s.backend) == 0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: ("y" if t[0] == "x" else "x") + t[1:],  # other id (always a different first character)
        lambda t: t.replace(".", ".1", 1),  # later expiry
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # other signature
        lambda t: t.split(".")[0],  # no signature
    ],
)
async def test_forged_tokens_are_denied(backend: SessionBackend | None, tamper: object) -> None:
    s, _ = store(backend)
    session = await s.create()
    forged = tamper(session.token)  # type: ignore[operator]
    assert forged != session.token
    with pytest.raises(PermissionDenied, match="not one this gateway issued"):
        await s.redeem(forged, session.nonce)
    assert await s.redeem(session.token, session.nonce)  # the real one is still valid


async def test_token_from_another_key_is_denied(backend: SessionBackend | None) -> None:
    other = await SessionStore(SessionSettings(), b"o" * 32).create()
    s, _ = store(backend)
    with pytest.raises(PermissionDenied):
        await s.redeem(other.token, other.nonce)


async def test_wrong_nonce_and_wrong_owner_are_denied_and_do_not_burn(backend: SessionBackend | None) -> None:
    s, _ = store(backend)
    session = await s.create(owner="alice")
    with pytest.raises(PermissionDenied, match="nonce"):
        await s.redeem(session.token, "wrong", owner="alice")
    with pytest.raises(PermissionDenied, match="another API key"):
        await s.redeem(session.token, session.nonce, owner="bob")
    assert (await s.redeem(session.token, session.nonce, owner="alice")).owner == "alice"


async def test_concurrent_redemptions_only_one_wins(backend: SessionBackend | None) -> None:
    s, _ = store(backend)
    session = await s.create()
    outcomes = await asyncio.gather(
        *(s.redeem(session.token, session.nonce) for _ in range(50)), return_exceptions=True
    )
    assert sum(o == session for o in outcomes) == 1
    assert all(isinstance(o, FailedPrecondition) for o in outcomes if o != session)


async def test_missing_parts_are_invalid_input(backend: SessionBackend | None) -> None:
    s, _ = store(backend)
    with pytest.raises(InvalidInput):
        await s.redeem("", "nonce")


async def test_store_is_bounded_and_purges_expired() -> None:
    s, clock = store(max_sessions=3, ttl_s=10)
    memory = s.backend
    assert isinstance(memory, MemorySessions)
    made = [await s.create() for _ in range(5)]
    assert len(memory) == 3 and memory.evicted == 2
    with pytest.raises(FailedPrecondition, match="unknown"):
        await s.redeem(made[0].token, made[0].nonce)  # the oldest went first
    clock.now_ms += 10_001
    await s.create()
    assert len(memory) == 1


async def test_redis_holds_only_the_challenge_and_expires_it(redis_server: RedisServer) -> None:
    state = RedisState(redis_server.url, timeout_s=2.0)
    s, _ = store(RedisSessions(state), ttl_s=0.3)
    session = await s.create(owner="alice")
    with redis_server.client() as client:
        (key,) = client.keys("liveness:session:*")
        stored = client.hgetall(key)
        assert set(stored) == {b"nonce", b"owner", b"challenge"}
        assert stored[b"nonce"] == hashlib.sha256(session.nonce.encode()).hexdigest().encode()
        assert session.nonce.encode() not in b"".join(stored.values())
        assert stored[b"owner"] == b"alice"
        assert 0 < client.pttl(key) <= 300
        await asyncio.sleep(0.5)
        assert client.keys("liveness:session:*") == []  # Redis dropped it at the session's expiry
    await state.close()


async def test_redis_down_fails_closed_then_recovers(redis_server: RedisServer) -> None:
    state = RedisState(redis_server.url, timeout_s=0.2)
    s, _ = store(RedisSessions(state))
    kept = await s.create()
    redis_server.pause()  # frozen: each call waits out its timeout, then the breaker answers at once
    try:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(Unavailable, match=r"shared store \(redis://127.0.0.1:\d+/0\)"):
                await s.create()
            assert time.monotonic() - started < 0.5
        with pytest.raises(Unavailable):
            await s.redeem(kept.token, kept.nonce)
    finally:
        redis_server.resume()
    redis_server.kill()
    with pytest.raises(Unavailable):
        await s.create()
    redis_server.start()  # same port, empty: the session made before is gone
    deadline = time.monotonic() + 5.0
    while True:
        try:
            session = await s.create()
            break
        except Unavailable:
            assert time.monotonic() < deadline, "no recovery within 5 s of Redis coming back"
            await asyncio.sleep(0.1)
    assert await s.redeem(session.token, session.nonce) == session
    with pytest.raises(FailedPrecondition, match="unknown"):
        await s.redeem(kept.token, kept.nonce)
    await state.close()


def test_challenges_are_random_distinct_and_have_at_most_one_turn() -> None:
    rng = secrets.SystemRandom()
    seen = set()
    for _ in range(200):
        challenge = random_challenge(3, rng)
        assert len(challenge) == 3 and len(set(challenge)) == 3 and set(challenge) <= set(ACTIONS)
        assert len({Action.TURN_LEFT, Action.TURN_RIGHT} & set(challenge)) <= 1
        seen.add(challenge)
    assert len(seen) > 20
    assert len(set(random_challenge(5, rng))) == 5


def test_flash_sequences_change_colour_every_step() -> None:
    settings = SessionSettings(flash_steps=8, flash_min_ms=100, flash_max_ms=200)
    steps = random_flash(settings, secrets.SystemRandom())
    assert len(steps) == 8 and all(s.color in PALETTE.values() for s in steps)
    assert all(a.color != b.color for a, b in zip(steps, steps[1:], strict=False))
    assert all(100 <= s.duration_ms <= 200 for s in steps)


def test_session_key_from_env() -> None:
    assert len(session_key_from_env({})) == 32
    assert session_key_from_env({"GATEWAY_SESSION_KEY": "ab" * 32}) == bytes.fromhex("ab" * 32)
    for bad in ("zz" * 32, "ab" * 8):
        with pytest.raises(ValueError, match="GATEWAY_SESSION_KEY"):
            session_key_from_env({"GATEWAY_SESSION_KEY": bad})


@pytest.mark.parametrize(
    "kwargs", [{"ttl_s": 0}, {"max_sessions": 0}, {"actions": 0}, {"actions": 6}, {"flash_min_ms": 500}]
)
def test_bad_settings_fail(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SessionSettings(**kwargs)  # type: ignore[arg-type]
