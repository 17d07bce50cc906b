"""Fusion rules, table-driven."""

from __future__ import annotations

import math

import pytest

from gateway.fusion import Calibration, Thresholds, Vote, fuse
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


LOGISTIC = Calibration("logistic", bias=0.5, coefs={"a": 2.0, "b": 1.0}, mean_logits={"a": 0.0, "b": -1.0})


def test_logistic_calibration_by_hand() -> None:
    t = Thresholds(live=0.7, spoof=0.3)
    out = fuse([Vote("a", 1, OK, 0.8), Vote("b", 1, OK, 0.6)], t, LOGISTIC)
    z = 0.5 + 2.0 * math.log(0.8 / 0.2) + 1.0 * math.log(0.6 / 0.4)
    assert out.score == pytest.approx(1 / (1 + math.exp(-z))) and out.decision is Decision.LIVE
    # b timed out: its dev mean logit stands in; the answer is degraded.
    out = fuse([Vote("a", 3, OK, 0.8), Vote("b", 1, TIMEOUT, 0.0)], t, LOGISTIC)
    z = 0.5 + 2.0 * math.log(4.0) - 1.0
    assert out.score == pytest.approx(1 / (1 + math.exp(-z))) and out.degraded


def test_calibration_keeps_the_weight_rule() -> None:
    # The calibrated score is high, but too little weight answered: uncertain.
    out = fuse([Vote("a", 1, OK, 0.99), Vote("b", 3, UNAVAIL, 0.0)], BAND, LOGISTIC)
    assert out.score > 0.9 and out.decision is Decision.UNCERTAIN


def test_isotonic_calibration_interpolates_the_weighted_mean() -> None:
    iso = Calibration("isotonic", knots_x=(0.2, 0.6, 0.9), knots_y=(0.0, 0.5, 1.0))
    cases = [(0.1, 0.0), (0.4, 0.25), (0.6, 0.5), (0.75, 0.75), (0.95, 1.0)]
    for mean, expected in cases:
        assert fuse([Vote("a", 1, OK, mean)], BAND, iso).score == pytest.approx(expected)
    # The map applies to the weighted mean: (0.3 * 1 + 0.9 * 1) / 2 = 0.6 -> 0.5.
    assert fuse([Vote("a", 1, OK, 0.3), Vote("b", 1, OK, 0.9)], BAND, iso).score == pytest.approx(0.5)


LEAST = Calibration("min", coefs={"a": 2.0, "b": 1.0}, offsets={"a": 0.5, "b": -0.5})


def _mapped(name: str, p: float) -> float:
    return LEAST.coefs[name] * math.log(p / (1 - p)) + LEAST.offsets[name]


def test_min_calibration_takes_the_least_live_test() -> None:
    t = Thresholds(live=0.6, spoof=0.4)
    # a is sure it is live, b is not: b's mapped score decides, whatever a says.
    out = fuse([Vote("a", 1, OK, 0.99), Vote("b", 1, OK, 0.3)], t, LEAST)
    assert (
        out.score == pytest.approx(1 / (1 + math.exp(-_mapped("b", 0.3)))) and out.decision is Decision.SPOOF
    )
    out = fuse([Vote("a", 1, OK, 0.2), Vote("b", 1, OK, 0.99)], t, LEAST)
    assert (
        out.score == pytest.approx(1 / (1 + math.exp(-_mapped("a", 0.2)))) and out.decision is Decision.SPOOF
    )
    # Both convinced: the lower of the two mapped scores, LIVE.
    z = min(_mapped("a", 0.9), _mapped("b", 0.95))
    out = fuse([Vote("a", 1, OK, 0.9), Vote("b", 1, OK, 0.95)], t, LEAST)
    assert out.score == pytest.approx(1 / (1 + math.exp(-z))) and out.decision is Decision.LIVE
    # A member that timed out has no say (no stand-in value); the answer is degraded.
    out = fuse([Vote("a", 1, OK, 0.9), Vote("b", 1, TIMEOUT, 0.0)], t, LEAST)
    assert out.score == pytest.approx(1 / (1 + math.exp(-_mapped("a", 0.9)))) and out.degraded
    # The weight rule still holds: the OK weight (1) is below half of the applicable weight (4).
    out = fuse([Vote("a", 1, OK, 0.99), Vote("b", 3, UNAVAIL, 0.0)], t, LEAST)
    assert out.decision is Decision.UNCERTAIN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "mystery"},
        {"method": "min"},
        {"method": "min", "coefs": {"a": 1.0}},
        {"method": "min", "coefs": {"a": -1.0}, "offsets": {"a": 0.0}},
        {"method": "logistic", "coefs": {"a": 1.0}},
        {"method": "isotonic", "knots_x": (0.5,), "knots_y": (0.5,)},
        {"method": "isotonic", "knots_x": (0.5, 0.4), "knots_y": (0.1, 0.2)},
        {"method": "isotonic", "knots_x": (0.1, 0.4), "knots_y": (0.3, 0.2)},
        {"method": "isotonic", "knots_x": (0.1, 0.4), "knots_y": (0.3, 1.2)},
    ],
)
def test_bad_calibrations_fail_at_load(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Calibration(**kwargs)  # type: ignore[arg-type]
