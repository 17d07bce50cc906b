"""The gateway's decision from the tests' answers: fusion first, then the rules of the interactive checks.

1. Fusion (gateway.fusion) turns the answers into a score and LIVE / SPOOF / UNCERTAIN.
2. The challenge (from a session or from EvaluateRequest.challenge) and a session's flash colours apply on
   top (`judge`): SPOOF when a check ran and failed, UNCERTAIN when a check could not run, otherwise the
   fused decision. The rules never turn a SPOOF into a LIVE, and they change the decision, never the score.
3. What the face search found is put in front of the detail (no face, several faces, a turned frame).

`Outcome` reports each check in EvaluateResponse.checks. Pure: domain values in (liveness.types answers,
gateway.flash.FlashCheck), a `Verdict` out; no gRPC, no protobuf.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.flash import FlashCheck
from gateway.fusion import Calibration, Thresholds, Vote, fuse
from liveness.types import Action, ActionResult, Decision, Status, TestAnswer


class Outcome(enum.Enum):
    """How one interactive check went; mirrors liveness.v1.CheckOutcome (proto names CHECK_OUTCOME_<name>)."""

    NOT_REQUESTED = "NOT_REQUESTED"
    PASSED = "PASSED"
    FAILED = "FAILED"
    UNVERIFIED = "UNVERIFIED"


def verified(challenge: Sequence[Action], results: Sequence[ActionResult] | None) -> bool:
    """True when `results` answer exactly `challenge` (the same actions in the same order)."""
    return results is not None and [r.action for r in results] == list(challenge)


def challenge_outcome(challenge: Sequence[Action], results: Sequence[ActionResult] | None) -> Outcome:
    """As `judge` rules: no challenge, not verified, an action missed, or every action seen."""
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


def challenge_results(answers: Iterable[TestAnswer]) -> tuple[ActionResult, ...] | None:
    """The challenge results of the first test that answered OK with some; None when none did."""
    for answer in answers:
        if answer.status is Status.OK and answer.challenge:
            return answer.challenge
    return None


def judge(
    decision: Decision,
    challenge: Sequence[Action],
    results: Sequence[ActionResult] | None,
    flash: FlashCheck | None,
) -> tuple[Decision, str]:
    """The rules of the interactive checks on top of the fused decision, and why (empty: unchanged).

    SPOOF when a check ran and failed (an action not seen in order, or a face whose colour did not follow the
    flash): a replay cannot answer a challenge drawn seconds ago. UNCERTAIN when a check could not run
    (`results` None, or results for other actions: no test verified this challenge; the flash not
    measurable). Otherwise the fused decision. `flash` None: no flash sequence to check.
    """
    if not verified(challenge, results):
        results = None  # the test answered some other challenge: this one was not verified
    if results is not None:
        missed = [r.action.name for r in results if not r.satisfied]
        if missed:
            return Decision.SPOOF, f"challenge not followed ({', '.join(missed)} not seen in order)"
    flash_status = flash.status if flash is not None else Status.NOT_APPLICABLE
    if flash is not None and flash_status is Status.OK and not flash.satisfied:
        return Decision.SPOOF, f"flash colours not reflected by the face: {flash.detail}"
    if results is None and challenge:
        return Decision.UNCERTAIN, "the challenge could not be verified (no test answered it)"
    if flash is not None and flash_status not in (Status.OK, Status.NOT_APPLICABLE):
        return Decision.UNCERTAIN, f"the flash colours could not be checked: {flash.detail}"
    return decision, ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one Evaluate, before it becomes a message."""

    decision: Decision
    score: float  # the fused score; the interactive checks never change it
    degraded: bool
    detail: str
    fused: frozenset[str]  # the tests whose score took part in fusion
    seen: tuple[ActionResult, ...] | None  # the challenge results judged; None: no test reported any
    challenge: Outcome
    flash: Outcome


def decide(
    answers: Mapping[str, TestAnswer],
    weights: Mapping[str, float],
    thresholds: Thresholds,
    calibration: Calibration | None,
    challenge: Sequence[Action] = (),
    flash: FlashCheck | None = None,
    face_status: Status = Status.NOT_APPLICABLE,
    turns: int = 0,
) -> Verdict:
    """Fuse `answers` (by configured test name, each test's weight in `weights`), apply the interactive
    checks, explain the face.

    `challenge`: the actions asked for (empty: none); `flash`: a session's flash check (None: no session);
    `face_status`: what the face search found in the chosen frame; `turns`: quarter turns the frames needed
    before a face showed.
    """
    votes = [Vote(name, weights[name], a.status, a.score) for name, a in answers.items()]
    fused = fuse(votes, thresholds, calibration)
    decision, detail = fused.decision, fused.detail
    seen = challenge_results(answers.values()) if challenge else None
    if challenge or flash is not None:
        decision, why = judge(decision, challenge, seen, flash)
        if why:
            detail = f"{why}; {detail}"
    if face_status in (Status.NO_FACE, Status.MULTIPLE_FACES):
        detail = f"{face_status.name.lower().replace('_', ' ')} in the frame; {detail}"
    elif turns:
        detail = f"face found with the frame turned by {90 * turns} degrees; judged turned; {detail}"
    return Verdict(
        decision=decision,
        score=fused.score,
        degraded=fused.degraded,
        detail=detail,
        fused=fused.fused,
        seen=seen,
        challenge=challenge_outcome(challenge, seen),
        flash=flash_outcome(flash),
    )
