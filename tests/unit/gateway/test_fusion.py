"""Fusion rules, table-driven."""

from __future__ import annotations

import pytest

from gateway.config import Thresholds
from gateway.fusion import Vote, fuse
from liveness.types import Decision, Status

OK, TIMEOUT, NA, NO_FACE, UNAVAIL = (
    Status.OK,
    Status.TIMEOUT,
    Status.NOT_APPLICABLE,
    Status.NO_FACE,
    Status.UNAVAILABLE,
)
BAND = Thresholds(live=0.6, spoof=0.4, min_weight_fraction=0.5)


@pytest.mark.parametrize(
    ("votes", "decision", "score", "degraded"),
    [
        ([("a", 1, OK, 0.9), ("b", 1, OK, 0.7)], Decision.LIVE, 0.8, False),
        ([("a", 3, OK, 0.1), ("b", 1, OK, 0.9)], Decision.SPOOF, 0.3, False),
        ([("a", 1, OK, 0.5), ("b", 1, OK, 0.5)], Decision.UNCERTAIN, 0.5, False),
        # weights renormalise over tests that answered: b timed out
        ([("a", 2, OK, 0.9), ("b", 1, TIMEOUT, 0.0)], Decision.LIVE, 0.9, True),
        # the OK weight (1) is below half the applicable weight (3): uncertain, whatever the score
        ([("a", 1, OK, 0.95), ("b", 2, UNAVAIL, 0.0)], Decision.UNCERTAIN, 0.95, True),
        # not applicable carries no weight and does not degrade
        ([("a", 1, OK, 0.95), ("b", 5, NA, 0.0)], Decision.LIVE, 0.95, False),
        # no face is a verdict of the test, not a failure: not degraded, but its weight is missing
        ([("a", 1, OK, 0.95), ("b", 2, NO_FACE, 0.0)], Decision.UNCERTAIN, 0.95, False),
        ([("a", 1, TIMEOUT, 0.0)], Decision.UNCERTAIN, 0.0, True),
        ([], Decision.UNCERTAIN, 0.0, False),
        # a zero-weight test is reported but never decides
        ([("a", 1, OK, 0.2), ("b", 0, OK, 1.0)], Decision.SPOOF, 0.2, False),
    ],
)
def test_fuse(
    votes: list[tuple[str, float, Status, float]], decision: Decision, score: float, degraded: bool
) -> None:
    out = fuse([Vote(*v) for v in votes], BAND)
    assert out.decision is decision
    assert out.score == pytest.approx(score)
    assert out.degraded is degraded


def test_boundaries_live_inclusive_spoof_exclusive() -> None:
    t = Thresholds(live=0.6, spoof=0.4)
    assert fuse([Vote("a", 1, OK, 0.6)], t).decision is Decision.LIVE
    assert fuse([Vote("a", 1, OK, 0.4)], t).decision is Decision.UNCERTAIN
    assert fuse([Vote("a", 1, OK, 0.3999)], t).decision is Decision.SPOOF


def test_fused_names_and_detail() -> None:
    out = fuse([Vote("a", 1, OK, 0.9), Vote("b", 1, TIMEOUT, 0.0)], BAND)
    assert out.fused == frozenset({"a"})
    out = fuse([Vote("a", 1, TIMEOUT, 0.0)], BAND)
    assert "a: timeout" in out.detail


@pytest.mark.parametrize("kwargs", [{"live": 0.3, "spoof": 0.4}, {"min_weight_fraction": 0.0}, {"live": 1.5}])
def test_bad_thresholds_fail_at_load(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Thresholds(**kwargs)
