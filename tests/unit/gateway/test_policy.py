"""The decision from the tests' answers: fusion, the rules of the interactive checks, the face's status."""

from __future__ import annotations

import pytest

from gateway.flash import FlashCheck
from gateway.fusion import Thresholds
from gateway.policy import Outcome, challenge_outcome, decide, flash_outcome, judge
from liveness.types import Action, ActionResult, Decision, Status, TestAnswer

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
    got, detail = judge(fused, (BLINK, SMILE), results, FlashCheck(flash_status, 0.0, flash_ok, "detail"))
    assert got is decision
    assert why in detail if why else detail == ""


def test_without_a_flash_only_the_challenge_counts() -> None:
    assert judge(Decision.LIVE, (BLINK, SMILE), SEEN, None) == (Decision.LIVE, "")
    assert judge(Decision.LIVE, (BLINK, SMILE), MISSED, None)[0] is Decision.SPOOF
    assert judge(Decision.LIVE, (), None, None) == (Decision.LIVE, "")


@pytest.mark.parametrize(
    ("challenge", "results", "outcome"),
    [
        ((), None, Outcome.NOT_REQUESTED),
        ((BLINK, SMILE), None, Outcome.UNVERIFIED),
        ((BLINK, SMILE), SEEN[::-1], Outcome.UNVERIFIED),
        ((BLINK, SMILE), MISSED, Outcome.FAILED),
        ((BLINK, SMILE), SEEN, Outcome.PASSED),
    ],
)
def test_challenge_outcome(
    challenge: tuple[Action, ...], results: list[ActionResult] | None, outcome: Outcome
) -> None:
    assert challenge_outcome(challenge, results) is outcome


@pytest.mark.parametrize(
    ("flash", "outcome"),
    [
        (None, Outcome.NOT_REQUESTED),
        (FlashCheck(NA, 0.0, True, ""), Outcome.NOT_REQUESTED),
        (FlashCheck(NO_FACE, 0.0, False, ""), Outcome.UNVERIFIED),
        (FlashCheck(OK, 0.2, False, ""), Outcome.FAILED),
        (FlashCheck(OK, 0.9, True, ""), Outcome.PASSED),
    ],
)
def test_flash_outcome(flash: FlashCheck | None, outcome: Outcome) -> None:
    assert flash_outcome(flash) is outcome


BAND = Thresholds(live=0.6, spoof=0.4)
WEIGHTS = {"a": 1.0, "b": 1.0, "c": 0.0}


def _answers(*answers: TestAnswer) -> dict[str, TestAnswer]:
    return {name: answer for name, answer in zip(WEIGHTS, answers, strict=False)}


def test_fusion_keys_on_the_configured_names() -> None:
    # A test that calls itself something else is still fused under its configured name and weight.
    answers = _answers(TestAnswer("a", "1", OK, 0.9), TestAnswer("renamed", "1", OK, 0.7))
    verdict = decide(answers, WEIGHTS, BAND, None)
    assert (verdict.decision, round(verdict.score, 6), verdict.fused) == (Decision.LIVE, 0.8, {"a", "b"})
    assert verdict.detail == "fused score 0.800 >= live threshold 0.6"
    assert (verdict.challenge, verdict.flash, verdict.seen) == (Outcome.NOT_REQUESTED,) * 2 + (None,)


def test_the_challenge_is_judged_on_the_first_ok_answer_that_reports_one() -> None:
    answers = _answers(
        TestAnswer("a", "1", Status.TIMEOUT, challenge=tuple(MISSED)),  # not OK: not read
        TestAnswer("b", "1", OK, 0.9, challenge=tuple(SEEN)),
        TestAnswer("c", "1", OK, 0.1, challenge=tuple(MISSED)),  # after the first: not read
    )
    verdict = decide(answers, WEIGHTS, BAND, None, challenge=(BLINK, SMILE))
    assert (verdict.decision, verdict.seen, verdict.challenge) == (Decision.LIVE, tuple(SEEN), Outcome.PASSED)
    assert verdict.degraded  # a timed out


def test_rules_and_face_explain_the_decision_in_order() -> None:
    answers = _answers(TestAnswer("a", "1", OK, 0.9), TestAnswer("b", "1", OK, 0.9))
    flash = FlashCheck(OK, 0.1, False, "correlation 0.10 < 0.5")
    verdict = decide(answers, WEIGHTS, BAND, None, (BLINK,), flash, Status.MULTIPLE_FACES)
    assert verdict.decision is Decision.SPOOF and round(verdict.score, 6) == 0.9  # the score stays
    # a failed check (the flash) wins over an unverifiable one (the challenge: no test reported it)
    assert verdict.detail == (
        "multiple faces in the frame; flash colours not reflected by the face: correlation 0.10 < 0.5; "
        "fused score 0.900 >= live threshold 0.6"
    )
    assert (verdict.challenge, verdict.flash) == (Outcome.UNVERIFIED, Outcome.FAILED)
    turned = decide(answers, WEIGHTS, BAND, None, face_status=OK, turns=3)
    assert turned.detail == (
        "face found with the frame turned by 270 degrees; judged turned; "
        "fused score 0.900 >= live threshold 0.6"
    )
    assert decide(answers, WEIGHTS, BAND, None, face_status=NO_FACE).detail.startswith(
        "no face in the frame; "
    )


def test_no_answer_is_uncertain_and_no_check_makes_it_live() -> None:
    answers = _answers(TestAnswer("a", "1", Status.UNAVAILABLE), TestAnswer("b", "1", NA))
    verdict = decide(answers, WEIGHTS, BAND, None, flash=FlashCheck(OK, 0.9, True, ""))
    assert (verdict.decision, verdict.score, verdict.degraded) == (Decision.UNCERTAIN, 0.0, True)
    assert verdict.detail == "no test answered (a: unavailable)"
