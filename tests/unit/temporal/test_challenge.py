"""Ordered matching of challenge actions against per-frame evidence."""

from __future__ import annotations

import numpy as np
import pytest

from liveness.types import Action
from temporal.challenge import ChallengeSettings, match_in_order

S = ChallengeSettings(expression_threshold=0.6, turn_threshold=0.25)


def _track(n: int, peaks: dict[int, float]) -> np.ndarray:
    values = np.zeros(n)
    for i, v in peaks.items():
        values[i] = v
    return values


@pytest.mark.parametrize(
    ("challenge", "smile_peaks", "surprise_peaks", "expected"),
    [
        ((Action.SMILE,), {3: 0.9}, {}, [(True, 3)]),
        ((Action.SMILE, Action.SURPRISE), {3: 0.9}, {10: 0.8}, [(True, 3), (True, 10)]),
        # surprise came first, smile after: the order is wrong
        ((Action.SMILE, Action.SURPRISE), {10: 0.9}, {3: 0.8}, [(True, 10), (False, -1)]),
        # earliest-first matching still finds the in-order pair when the smile also happens early
        ((Action.SMILE, Action.SURPRISE), {2: 0.7, 12: 0.9}, {8: 0.8}, [(True, 2), (True, 8)]),
        # the same frame cannot satisfy two steps
        ((Action.SMILE, Action.SMILE), {5: 0.9}, {}, [(True, 5), (False, -1)]),
        ((Action.SMILE, Action.SMILE), {5: 0.9, 6: 0.7}, {}, [(True, 5), (True, 6)]),
        # below threshold is not seen; once broken, later steps fail too
        ((Action.SMILE, Action.SURPRISE), {4: 0.55}, {9: 0.9}, [(False, -1), (False, -1)]),
    ],
)
def test_actions_must_appear_in_order(
    challenge: tuple[Action, ...],
    smile_peaks: dict[int, float],
    surprise_peaks: dict[int, float],
    expected: list[tuple[bool, int]],
) -> None:
    evidence = {Action.SMILE: _track(16, smile_peaks), Action.SURPRISE: _track(16, surprise_peaks)}
    results = match_in_order(challenge, evidence, S)
    assert [(r.satisfied, r.frame_index) for r in results] == expected
    assert [r.action for r in results] == list(challenge)


def test_missing_evidence_and_nan_frames_do_not_satisfy() -> None:
    smile = np.array([np.nan, np.nan, 0.9, np.nan])
    results = match_in_order((Action.SMILE, Action.BLINK), {Action.SMILE: smile}, S)
    assert [(r.satisfied, r.frame_index) for r in results] == [(True, 2), (False, -1)]


def test_turns_use_their_own_threshold_and_report_confidence() -> None:
    yaw = np.array([0.0, 0.1, 0.3, 0.0, -0.2, -0.4])
    evidence = {Action.TURN_LEFT: yaw, Action.TURN_RIGHT: -yaw}
    results = match_in_order((Action.TURN_LEFT, Action.TURN_RIGHT), evidence, S)
    assert [(r.satisfied, r.frame_index) for r in results] == [(True, 2), (True, 5)]
    assert results[1].confidence == pytest.approx(0.4)
    failed = match_in_order((Action.TURN_RIGHT, Action.TURN_LEFT), evidence, S)
    assert [r.satisfied for r in failed] == [True, False]
