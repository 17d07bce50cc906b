"""The circuit breaker as a table: a script of clock moves, calls and outcomes, with the state after each."""

from __future__ import annotations

import pytest

from gateway.breaker import Breaker, BreakerSettings, State

CLOSED, OPEN, HALF = State.CLOSED, State.OPEN, State.HALF_OPEN
SETTINGS = BreakerSettings(failures=3, open_s=0.5, max_open_s=2.0, probe_lease_s=5.0)

# Steps: ("at", t) moves the clock to t s; ("allow", expected) calls allow(); ("ok",) / ("fail",) record
# an outcome; ("state", s) checks the state; ("retry", s) checks retry_in_s().
SCRIPTS = {
    "two failures keep it closed": [
        ("fail",),
        ("fail",),
        ("state", CLOSED),
        ("allow", True),
    ],
    "a success resets the count": [
        ("fail",),
        ("fail",),
        ("ok",),
        ("fail",),
        ("fail",),
        ("state", CLOSED),
    ],
    "three in a row open it for open_s": [
        ("fail",),
        ("fail",),
        ("fail",),
        ("state", OPEN),
        ("allow", False),
        ("retry", 0.5),
        ("at", 0.49),
        ("allow", False),
        ("at", 0.5),
        ("allow", True),
        ("state", HALF),
    ],
    "half-open lets one probe through at a time": [
        ("fail",),
        ("fail",),
        ("fail",),
        ("at", 0.6),
        ("allow", True),
        ("allow", False),
        ("allow", False),
        ("ok",),
        ("state", CLOSED),
        ("allow", True),
        ("allow", True),
    ],
    "a failed probe reopens for twice as long, then up to the cap": [
        ("fail",),
        ("fail",),
        ("fail",),
        ("at", 0.5),
        ("allow", True),
        ("fail",),
        ("state", OPEN),
        ("retry", 1.0),
        ("at", 1.5),
        ("allow", True),
        ("fail",),
        ("retry", 2.0),
        ("at", 3.5),
        ("allow", True),
        ("fail",),
        ("retry", 2.0),  # capped at max_open_s
    ],
    "a successful probe forgets past ejections": [
        ("fail",),
        ("fail",),
        ("fail",),
        ("at", 0.5),
        ("allow", True),
        ("fail",),
        ("at", 1.5),
        ("allow", True),
        ("ok",),
        ("fail",),
        ("fail",),
        ("fail",),
        ("retry", 0.5),
    ],
    "failures of calls sent before it opened do not reopen it": [
        ("fail",),
        ("fail",),
        ("fail",),
        ("at", 0.1),
        ("fail",),
        ("fail",),
        ("retry", 0.4),
        ("at", 0.5),
        ("allow", True),
    ],
    "a probe that never reports is given up after its lease": [
        ("fail",),
        ("fail",),
        ("fail",),
        ("at", 0.5),
        ("allow", True),
        ("at", 5.4),
        ("allow", False),
        ("at", 5.5),
        ("allow", True),
        ("allow", False),
    ],
}


@pytest.mark.parametrize("script", list(SCRIPTS.values()), ids=list(SCRIPTS))
def test_breaker_script(script: list[tuple[object, ...]]) -> None:
    now = [0.0]
    breaker = Breaker(SETTINGS, clock=lambda: now[0])
    for i, (op, *arg) in enumerate(script):
        where = f"step {i}: {op} {arg}"
        if op == "at":
            now[0] = float(arg[0])  # type: ignore[arg-type]
        elif op == "allow":
            assert breaker.allow() is arg[0], where
        elif op == "ok":
            breaker.record(True)
        elif op == "fail":
            breaker.record(False, "DEADLINE_EXCEEDED")
        elif op == "state":
            assert breaker.state is arg[0], where
        elif op == "retry":
            assert breaker.retry_in_s() == pytest.approx(arg[0]), where
        else:
            raise AssertionError(f"unknown step {op}")


def test_disabled_breaker_lets_everything_through() -> None:
    breaker = Breaker(BreakerSettings(failures=0), clock=lambda: 0.0)
    for _ in range(10):
        breaker.record(False, "UNAVAILABLE")
    assert breaker.allow() and breaker.state is State.CLOSED


def test_describe_says_why_and_when() -> None:
    now = [0.0]
    breaker = Breaker(SETTINGS, clock=lambda: now[0])
    for _ in range(3):
        breaker.record(False, "UNAVAILABLE: connection refused")
    now[0] = 0.2
    assert breaker.describe() == (
        "not called: circuit open after 3 failed calls in a row (last: UNAVAILABLE: connection refused); "
        "next probe in 0.30 s"
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"failures": -1}, {"open_s": 0}, {"open_s": 3.0, "max_open_s": 2.0}, {"probe_lease_s": 0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="breaker"):
        BreakerSettings(**kwargs)  # type: ignore[arg-type]
