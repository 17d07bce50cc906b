"""The interactive checks of one Evaluate (the challenge and the flash), applied to the decision.

A challenge counts the same whether a session set it or the client sent it in EvaluateRequest.challenge:
`sessions.judge` applies it to the fused decision (an action not seen in order: SPOOF; not verifiable:
UNCERTAIN), and `outcomes` reports it, with the flash check, in EvaluateResponse.checks. Only a session has
a flash sequence. Pure: no gRPC.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from gateway.flash import FlashCheck
from liveness.types import Action, ActionResult, Status


class Outcome(enum.Enum):
    """Mirrors liveness.v1.CheckOutcome (proto names are CHECK_OUTCOME_<name>)."""

    NOT_REQUESTED = "NOT_REQUESTED"
    PASSED = "PASSED"
    FAILED = "FAILED"
    UNVERIFIED = "UNVERIFIED"


def verified(challenge: Sequence[Action], results: Sequence[ActionResult] | None) -> bool:
    """True when `results` answer exactly `challenge` (the same actions in the same order)."""
    return results is not None and [r.action for r in results] == list(challenge)


def challenge_outcome(challenge: Sequence[Action], results: Sequence[ActionResult] | None) -> Outcome:
    """As sessions.judge rules: no challenge, not verified, an action missed, or every action seen."""
    if not challenge:
        return Outcome.NOT_REQUESTED
    if results is None or not verified(challenge, results):
        return Outcome.UNVERIFIED
    return Outcome.PASSED if all(r.satisfied for r in results) else Outcome.FAILED


def flash_outcome(flash: FlashCheck | None) -> Outcome:
    """None (no session) or a session without flash steps: NOT_REQUESTED."""
    if flash is None or flash.status is Status.NOT_APPLICABLE:
        return Outcome.NOT_REQUESTED
    if flash.status is not Status.OK:
        return Outcome.UNVERIFIED
    return Outcome.PASSED if flash.satisfied else Outcome.FAILED
