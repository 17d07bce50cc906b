"""Weighted score fusion: a pure function from the tests' results to live / spoof / uncertain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import Thresholds
from liveness.types import Decision, Status

# Statuses that mean the test could not run, as opposed to a verdict on the media.
FAILED = (Status.TIMEOUT, Status.UNAVAILABLE, Status.ERROR)


@dataclass(frozen=True, slots=True)
class Vote:
    """One test's contribution: its weight, status and score (meaningful only when status is OK)."""

    name: str
    weight: float
    status: Status
    score: float


@dataclass(frozen=True, slots=True)
class Fused:
    decision: Decision
    score: float
    degraded: bool
    detail: str
    fused: frozenset[str]


def fuse(votes: Sequence[Vote], thresholds: Thresholds) -> Fused:
    """Renormalise weights over the tests that answered OK and compare the weighted mean with thresholds.

    A test that does not apply to the media (NOT_APPLICABLE) carries no weight. The answer is degraded when
    an applicable test timed out, was unavailable or failed. It is UNCERTAIN when the tests that answered OK
    hold less than `min_weight_fraction` of the applicable weight, or when the score is in the band between
    the thresholds.
    """
    applicable = [v for v in votes if v.status is not Status.NOT_APPLICABLE and v.weight > 0]
    ok = [v for v in applicable if v.status is Status.OK]
    degraded = any(v.status in FAILED for v in applicable)
    applicable_weight = sum(v.weight for v in applicable)
    ok_weight = sum(v.weight for v in ok)
    names = frozenset(v.name for v in ok)
    if not ok:
        reasons = ", ".join(f"{v.name}: {v.status.name.lower()}" for v in applicable) or "no test applies"
        return Fused(Decision.UNCERTAIN, 0.0, degraded, f"no test answered ({reasons})", names)
    score = sum(v.weight * v.score for v in ok) / ok_weight
    if ok_weight < thresholds.min_weight_fraction * applicable_weight:
        missing = ", ".join(
            f"{v.name}: {v.status.name.lower()}" for v in applicable if v.status is not Status.OK
        )
        detail = f"only {ok_weight:.2f} of {applicable_weight:.2f} weight answered ({missing})"
        return Fused(Decision.UNCERTAIN, score, degraded, detail, names)
    if score >= thresholds.live:
        decision, detail = Decision.LIVE, f"fused score {score:.3f} >= live threshold {thresholds.live}"
    elif score < thresholds.spoof:
        decision, detail = Decision.SPOOF, f"fused score {score:.3f} < spoof threshold {thresholds.spoof}"
    else:
        decision = Decision.UNCERTAIN
        detail = f"fused score {score:.3f} in the uncertain band [{thresholds.spoof}, {thresholds.live})"
    return Fused(decision, score, degraded, detail, names)
