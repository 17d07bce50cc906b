"""Weighted score fusion: a pure function from the tests' results to live / spoof / uncertain.

Without a calibration the fused score is the weighted mean of the scores that answered OK. With one (learned
by `liveness calibrate` on a dev set, stored as plain numbers in the gateway config) it is a calibrated
probability: logistic, P(live) = sigmoid(bias + sum_i coef_i * logit(score_i)), where a test that did not
answer OK contributes its dev-set mean logit (the neutral value the model saw for it); isotonic, a
non-decreasing piecewise-linear map of the weighted mean; or min, P(live) = sigmoid(min_i (coef_i *
logit(score_i) + offset_i)) over the member tests that answered OK: each test's score is put on one scale by
its own calibration map, and the face is as live as the *least* convinced test finds it, so an attack must
fool every test instead of outvoting one (a test that never saw a kind of screen can be confidently wrong,
and a weighted sum lets it carry the answer). The decision rules are the same for all three.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from liveness.types import Decision, Status

# Statuses that mean the test could not run, as opposed to a verdict on the media.
FAILED = (Status.TIMEOUT, Status.UNAVAILABLE, Status.ERROR)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Fused score >= live: LIVE; < spoof: SPOOF; in between: UNCERTAIN."""

    live: float = 0.5
    spoof: float = 0.5
    # UNCERTAIN when the weight of the tests that answered OK is below this fraction of the weight of the
    # tests that apply to the media (the rest timed out, failed, found no face ...).
    min_weight_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not (0.0 <= self.spoof <= self.live <= 1.0):
            raise ValueError(f"need 0 <= spoof <= live <= 1, got spoof={self.spoof}, live={self.live}")
        if not (0.0 < self.min_weight_fraction <= 1.0):
            raise ValueError(f"min_weight_fraction must be in (0, 1], got {self.min_weight_fraction}")


@dataclass(frozen=True, slots=True)
class Vote:
    """One test's contribution: its weight, status and score (meaningful only when status is OK)."""

    name: str
    weight: float
    status: Status
    score: float


LOGIT_CLIP = 1e-4  # scores are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] before the logit


def logit(p: float) -> float:
    p = min(max(p, LOGIT_CLIP), 1.0 - LOGIT_CLIP)
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A learned map from the tests' scores to P(live): "logistic", "isotonic" or "min" (see the module
    doc)."""

    method: str
    bias: float = 0.0
    coefs: Mapping[str, float] = field(default_factory=dict)  # logistic, min: per test, on logit(score)
    mean_logits: Mapping[str, float] = field(default_factory=dict)  # logistic: stand-in for a missing test
    offsets: Mapping[str, float] = field(default_factory=dict)  # min: per test, added to coef * logit
    knots_x: tuple[float, ...] = ()  # isotonic: weighted-mean score at each knot, increasing
    knots_y: tuple[float, ...] = ()  # isotonic: P(live) at each knot, non-decreasing

    def __post_init__(self) -> None:
        if self.method == "logistic":
            if set(self.coefs) != set(self.mean_logits):
                raise ValueError("fusion: every logistic coefficient needs a mean_logit, and vice versa")
        elif self.method == "min":
            if not self.coefs or set(self.coefs) != set(self.offsets):
                raise ValueError("fusion: min needs a coef and an offset for each member test")
            if any(c <= 0 for c in self.coefs.values()):
                raise ValueError("fusion: min needs positive coefs (a higher score must mean more live)")
        elif self.method == "isotonic":
            xs, ys = self.knots_x, self.knots_y
            if len(xs) < 2 or len(xs) != len(ys):
                raise ValueError("fusion: isotonic needs at least two (x, y) knots of equal count")
            if any(b <= a for a, b in zip(xs, xs[1:], strict=False)) or any(
                b < a for a, b in zip(ys, ys[1:], strict=False)
            ):
                raise ValueError("fusion: isotonic knots need increasing x and non-decreasing y")
            if not all(0.0 <= y <= 1.0 for y in ys):
                raise ValueError("fusion: isotonic y values must be probabilities")
        else:
            raise ValueError(f"fusion: method must be logistic, isotonic or min, got {self.method!r}")

    def probability(self, ok: Sequence[Vote], weighted_mean: float) -> float:
        """P(live) from the votes that answered OK (and, for isotonic, their weighted mean)."""
        if self.method == "isotonic":
            return _interp(weighted_mean, self.knots_x, self.knots_y)
        scores = {v.name: v.score for v in ok}
        if self.method == "min":
            mapped = [c * logit(scores[n]) + self.offsets[n] for n, c in self.coefs.items() if n in scores]
            return sigmoid(min(mapped)) if mapped else weighted_mean
        z = self.bias + sum(
            coef * (logit(scores[name]) if name in scores else self.mean_logits[name])
            for name, coef in self.coefs.items()
        )
        return sigmoid(z)


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


@dataclass(frozen=True, slots=True)
class Fused:
    decision: Decision
    score: float
    degraded: bool
    detail: str
    fused: frozenset[str]


def fuse(votes: Sequence[Vote], thresholds: Thresholds, calibration: Calibration | None = None) -> Fused:
    """Renormalise weights over the tests that answered OK and compare the fused score with thresholds.

    The fused score is the weighted mean, or the calibrated probability when `calibration` is given.

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
    if calibration is not None:
        score = calibration.probability(ok, score)
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
