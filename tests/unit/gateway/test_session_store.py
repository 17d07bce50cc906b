"""Session store, tokens, random challenges and the session rules, without gRPC."""

from __future__ import annotations

import secrets

import pytest

from gateway.sessions import (
    ACTIONS,
    PALETTE,
    FlashSchedule,
    FlashStep,
    SessionSettings,
    SessionStore,
    judge,
    random_challenge,
    random_flash,
    session_key_from_env,
)
from liveness.errors import FailedPrecondition, InvalidInput, PermissionDenied
from liveness.types import Action, ActionResult, Decision, Status

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_000_000

    def __call__(self) -> int:
        return self.now_ms


def store(**kwargs: object) -> tuple[SessionStore, Clock]:
    clock = Clock()
    return SessionStore(SessionSettings(**kwargs), KEY, clock), clock  # type: ignore[arg-type]


def test_session_is_single_use() -> None:
    s, _ = store()
    session = s.create()
    assert s.redeem(session.token, session.nonce) == session
    with pytest.raises(FailedPrecondition, match="already used"):
        s.redeem(session.token, session.nonce)


def test_expiry_uses_the_signed_time() -> None:
    s, clock = store(ttl_s=180)
    session = s.create()
    assert session.expires_at_ms == clock.now_ms + 180_000
    clock.now_ms += 180_000
    with pytest.raises(FailedPrecondition, match="expired"):
        s.redeem(session.token, session.nonce)
    assert len(s) == 0  # the expired session was dropped


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: ("y" if t[0] == "x" else "x") + t[1:],  # other id (always a different first character)
        lambda t: t.replace(".", ".1", 1),  # later expiry
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # other signature
        lambda t: t.split(".")[0],  # no signature
    ],
)
def test_forged_tokens_are_denied(tamper: object) -> None:
    s, _ = store()
    session = s.create()
    forged = tamper(session.token)  # type: ignore[operator]
    assert forged != session.token
    with pytest.raises(PermissionDenied, match="not one this gateway issued"):
        s.redeem(forged, session.nonce)
    assert s.redeem(session.token, session.nonce)  # the real one is still valid


def test_token_from_another_key_is_denied() -> None:
    other = SessionStore(SessionSettings(), b"o" * 32).create()
    s, _ = store()
    with pytest.raises(PermissionDenied):
        s.redeem(other.token, other.nonce)


def test_wrong_nonce_and_wrong_owner_are_denied_and_do_not_burn() -> None:
    s, _ = store()
    session = s.create(owner="alice")
    with pytest.raises(PermissionDenied, match="nonce"):
        s.redeem(session.token, "wrong", owner="alice")
    with pytest.raises(PermissionDenied, match="another API key"):
        s.redeem(session.token, session.nonce, owner="bob")
    assert s.redeem(session.token, session.nonce, owner="alice").owner == "alice"


def test_missing_parts_are_invalid_input() -> None:
    s, _ = store()
    with pytest.raises(InvalidInput):
        s.redeem("", "nonce")


def test_store_is_bounded_and_purges_expired() -> None:
    s, clock = store(max_sessions=3, ttl_s=10)
    made = [s.create() for _ in range(5)]
    assert len(s) == 3 and s.evicted == 2
    with pytest.raises(FailedPrecondition, match="unknown"):
        s.redeem(made[0].token, made[0].nonce)  # the oldest went first
    clock.now_ms += 10_001
    s.create()
    assert len(s) == 1


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


def test_schedule_maps_time_to_colour() -> None:
    schedule = FlashSchedule((FlashStep((255, 0, 0), 100), FlashStep((0, 0, 255), 50)))
    assert schedule.duration_ms == 150
    assert [schedule.color_at(t) for t in (0, 99, 100, 149, 150)] == [
        (255, 0, 0),
        (255, 0, 0),
        (0, 0, 255),
        (0, 0, 255),
        None,
    ]


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


BLINK, SMILE = Action.BLINK, Action.SMILE
SEEN = [ActionResult(BLINK, True, 2, 0.9), ActionResult(SMILE, True, 5, 0.8)]
MISSED = [ActionResult(BLINK, True, 2, 0.9), ActionResult(SMILE, False)]
OK, NA, NO_FACE = Status.OK, Status.NOT_APPLICABLE, Status.NO_FACE


@pytest.mark.parametrize(
    ("fused", "results", "flash_status", "flash_ok", "decision", "why"),
    [
        (Decision.LIVE, SEEN, OK, True, Decision.LIVE, ""),
        (Decision.SPOOF, SEEN, OK, True, Decision.SPOOF, ""),  # the rules never turn spoof into live
        (Decision.LIVE, MISSED, OK, True, Decision.SPOOF, "SMILE not seen"),
        # results for another challenge (or part of it) verify nothing
        (Decision.LIVE, SEEN[:1], OK, True, Decision.UNCERTAIN, "could not be verified"),
        (Decision.LIVE, SEEN[::-1], OK, True, Decision.UNCERTAIN, "could not be verified"),
        (Decision.LIVE, SEEN, OK, False, Decision.SPOOF, "flash colours not reflected"),
        (Decision.LIVE, None, OK, True, Decision.UNCERTAIN, "could not be verified"),
        (Decision.LIVE, SEEN, NO_FACE, False, Decision.UNCERTAIN, "flash colours could not be checked"),
        (Decision.LIVE, SEEN, NA, True, Decision.LIVE, ""),  # no flash sequence in the session
        # a failed check wins over an unverifiable one
        (Decision.LIVE, None, OK, False, Decision.SPOOF, "flash"),
    ],
)
def test_session_rules(
    fused: Decision,
    results: list[ActionResult] | None,
    flash_status: Status,
    flash_ok: bool,
    decision: Decision,
    why: str,
) -> None:
    got, detail = judge(fused, (BLINK, SMILE), results, flash_status, flash_ok, "detail")
    assert got is decision
    assert why in detail if why else detail == ""
