"""ISO/IEC 30107-3 presentation-attack detection metrics, pure numpy.

Conventions used everywhere in this project:

- a score is P(live); a presentation is *accepted as bona fide* when `score >= threshold` (ties accept);
- APCER (attack presentation classification error rate) = share of attack presentations of one PAI species
  that are accepted; it is reported per species and as the worst case (max over species);
- BPCER (bona fide presentation classification error rate) = share of bona fide presentations rejected;
- ACER = (worst-case APCER + BPCER) / 2 (the OULU-NPU convention);
- HTER = (pooled APCER + BPCER) / 2 on a test set, at a threshold fixed beforehand on a dev set (its EER
  threshold), as Replay-Attack papers report it; "pooled" counts all attacks together, whatever the species;
- EER is read where pooled APCER and BPCER are closest over the thresholds that change a decision,
  EER = their mean there (the usual discrete definition, as in bob.measure's `eer_threshold`);
- AUC = P(live score > attack score) + P(tie) / 2 (the Mann-Whitney statistic);
- BPCER@APCER=x = the lowest BPCER among thresholds whose pooled APCER is <= x.

Degenerate inputs (no bona fide or no attack presentation, NaN scores, mismatched lengths) raise
`MetricsError`, because a rate over zero presentations is undefined, not zero.

Confidence intervals (`intervals`): the data sets here are small (a held-out source may have 50 attacks), so
every headline figure carries a 95 % interval. APCER and BPCER get Wilson score intervals (a binomial
proportion; defined at 0 % too); AUC and ACER get percentile bootstrap intervals (scipy.stats.bootstrap),
live and attack presentations resampled separately (each species separately for ACER), seeded. Both treat
presentations as independent. Frames of one person or one video are not, so where a set holds few people
the real uncertainty is wider than these intervals; they are a lower bound on it, not a guarantee.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

BONA_FIDE = "none"
"""The attack name of bona fide (live) presentations, as in `liveness.data.samples.Sample.attack`."""

DEFAULT_APCER_TARGETS = (0.01, 0.05)

CI_LEVEL = 0.95
"""Confidence level of every interval the reports quote."""
CI_RESAMPLES = 2000
"""Bootstrap resamples per interval (percentile method). At 300 + 300 presentations the bounds move by
about 0.003 of AUC between seeds, against an interval about 0.08 wide; 0.2 s per AUC interval."""
CI_SEED = 0
BOOTSTRAP_BATCH = 100
"""Resamples ranked at once. All 2,000 at once peaked at 1.2 GB for 10,000 presentations; 100 at a time keep
it near 100 MB. Part of the seeded draw: another batch size draws other resamples (the bounds then move
within the seed-to-seed spread above)."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class MetricsError(ValueError):
    """The inputs cannot give a defined metric (no attacks, no bona fides, NaN scores, bad shapes)."""


@dataclass(frozen=True, slots=True)
class Labelled:
    """Validated parallel arrays: score (or decision), is_live, attack species (BONA_FIDE for live)."""

    scores: FloatArray
    is_live: BoolArray
    attacks: npt.NDArray[np.str_]

    @property
    def n_bona_fide(self) -> int:
        return int(self.is_live.sum())

    @property
    def n_attack(self) -> int:
        return int((~self.is_live).sum())


def labelled(
    scores: Iterable[float] | npt.ArrayLike,
    is_live: Iterable[bool] | npt.ArrayLike,
    attacks: Sequence[str] | None = None,
) -> Labelled:
    """Check and pack inputs; `attacks` defaults to one species "attack" for every non-live item.

    Live items always get species BONA_FIDE, whatever `attacks` says for them.
    """
    s = _as_array(scores, np.float64)
    live = _as_array(is_live)
    if s.ndim != 1 or live.ndim != 1 or s.shape != live.shape:
        raise MetricsError(
            f"scores and labels must be 1-D and the same length, got {s.shape} and {live.shape}"
        )
    if live.dtype != np.bool_:
        if not np.isin(live, (0, 1)).all():
            raise MetricsError("is_live must hold booleans (or 0/1)")
        live = live.astype(bool)
    if not np.isfinite(s).all():
        raise MetricsError(f"{int((~np.isfinite(s)).sum())} score(s) are NaN or infinite")
    if attacks is None:
        species = np.where(live, BONA_FIDE, "attack")
    else:
        species = np.asarray(list(attacks), dtype=np.str_)
        if species.shape != s.shape:
            raise MetricsError(f"attacks has {species.shape[0]} entries for {s.shape[0]} scores")
        species = np.where(live, BONA_FIDE, species)
        bad = (~live) & (species == BONA_FIDE)
        if bad.any():
            raise MetricsError(f"{int(bad.sum())} attack presentation(s) have species {BONA_FIDE!r}")
    return Labelled(scores=s, is_live=live, attacks=species)


def _as_array(values: Any, dtype: type | None = None) -> npt.NDArray[Any]:
    """Arrays pass through; other iterables (generators too) are listed first."""
    return np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=dtype)


def _require_both(data: Labelled) -> None:
    if data.n_bona_fide == 0:
        raise MetricsError("no bona fide (live) presentations: BPCER is undefined")
    if data.n_attack == 0:
        raise MetricsError("no attack presentations: APCER is undefined")


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """APCER per species and worst case, pooled APCER, BPCER, ACER and HTER for one decision rule.

    threshold is None when the rates come from decisions rather than a score threshold.
    """

    threshold: float | None
    apcer_by_species: dict[str, float]
    apcer: float
    apcer_pooled: float
    bpcer: float
    n_bona_fide: int
    n_attack_by_species: dict[str, int] = field(default_factory=dict)

    @property
    def acer(self) -> float:
        return (self.apcer + self.bpcer) / 2.0

    @property
    def hter(self) -> float:
        return (self.apcer_pooled + self.bpcer) / 2.0

    @property
    def worst_species(self) -> str:
        """The species with the highest APCER (first in sorted order on ties)."""
        return max(sorted(self.apcer_by_species), key=lambda k: self.apcer_by_species[k])

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "apcer_by_species": dict(self.apcer_by_species),
            "apcer": self.apcer,
            "worst_species": self.worst_species,
            "apcer_pooled": self.apcer_pooled,
            "bpcer": self.bpcer,
            "acer": self.acer,
            "hter": self.hter,
            "n_bona_fide": self.n_bona_fide,
            "n_attack_by_species": dict(self.n_attack_by_species),
        }


def rates_from_decisions(
    accepted: Iterable[bool] | npt.ArrayLike,
    is_live: Iterable[bool] | npt.ArrayLike,
    attacks: Sequence[str] | None = None,
    threshold: float | None = None,
) -> ErrorRates:
    """Error rates from accept (True = classified bona fide) / reject decisions.

    Use this for the gateway, where UNCERTAIN must already have been mapped to a rejection.
    """
    acc = _as_array(accepted)
    if acc.dtype != np.bool_:
        if acc.size and not np.isin(acc, (0, 1)).all():
            raise MetricsError("accepted must hold booleans (or 0/1)")
        acc = acc.astype(bool)
    data = labelled(acc.astype(np.float64), is_live, attacks)
    _require_both(data)
    live = data.is_live
    bpcer = float((~acc[live]).mean())
    by_species: dict[str, float] = {}
    counts: dict[str, int] = {}
    for species in sorted(set(data.attacks[~live].tolist())):
        mask = data.attacks == species
        by_species[species] = float(acc[mask].mean())
        counts[species] = int(mask.sum())
    return ErrorRates(
        threshold=threshold,
        apcer_by_species=by_species,
        apcer=max(by_species.values()),
        apcer_pooled=float(acc[~live].mean()),
        bpcer=bpcer,
        n_bona_fide=data.n_bona_fide,
        n_attack_by_species=counts,
    )


def rates_at(
    scores: Iterable[float] | npt.ArrayLike,
    is_live: Iterable[bool] | npt.ArrayLike,
    threshold: float,
    attacks: Sequence[str] | None = None,
) -> ErrorRates:
    """APCER (per species, worst, pooled), BPCER, ACER, HTER when accepting `score >= threshold`."""
    data = labelled(scores, is_live, attacks)
    return rates_from_decisions(data.scores >= threshold, data.is_live, data.attacks.tolist(), threshold)


@dataclass(frozen=True, slots=True)
class Curve:
    """Pooled APCER and BPCER at every threshold that changes a decision, thresholds ascending.

    The first threshold accepts everything (APCER 1, BPCER 0); the last is just above the highest score and
    rejects everything (APCER 0, BPCER 1).
    """

    thresholds: FloatArray
    apcer: FloatArray
    bpcer: FloatArray


def curve(scores: Iterable[float] | npt.ArrayLike, is_live: Iterable[bool] | npt.ArrayLike) -> Curve:
    """The error trade-off over all distinct thresholds (ROC/DET data)."""
    data = labelled(scores, is_live)
    _require_both(data)
    unique = np.unique(data.scores)
    thresholds = np.append(unique, np.nextafter(unique[-1], np.inf))
    live_sorted = np.sort(data.scores[data.is_live])
    attack_sorted = np.sort(data.scores[~data.is_live])
    # Rejected live = live scores strictly below the threshold; accepted attacks = attack scores >= it.
    bpcer = np.searchsorted(live_sorted, thresholds, side="left") / live_sorted.size
    apcer = 1.0 - np.searchsorted(attack_sorted, thresholds, side="left") / attack_sorted.size
    return Curve(thresholds=thresholds, apcer=apcer.astype(np.float64), bpcer=bpcer.astype(np.float64))


def eer(
    scores: Iterable[float] | npt.ArrayLike, is_live: Iterable[bool] | npt.ArrayLike
) -> tuple[float, float]:
    """(EER, its threshold): where pooled APCER and BPCER are closest; EER is their mean there.

    Among equally close thresholds the lowest is taken, so the result is deterministic.
    """
    c = curve(scores, is_live)
    gap = np.abs(c.apcer - c.bpcer)
    # Rates are ratios of counts, so equal gaps can differ in the last bit; compare with a tolerance.
    i = int(np.flatnonzero(gap <= gap.min() + 1e-12)[0])
    return float((c.apcer[i] + c.bpcer[i]) / 2.0), float(c.thresholds[i])


def auc(scores: Iterable[float] | npt.ArrayLike, is_live: Iterable[bool] | npt.ArrayLike) -> float:
    """Area under the ROC: P(a live score > an attack score), ties counting one half."""
    data = labelled(scores, is_live)
    _require_both(data)
    live = data.scores[data.is_live]
    attack = np.sort(data.scores[~data.is_live])
    below = np.searchsorted(attack, live, side="left")
    ties = np.searchsorted(attack, live, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (live.size * attack.size))


def bpcer_at_apcer(
    scores: Iterable[float] | npt.ArrayLike, is_live: Iterable[bool] | npt.ArrayLike, apcer_target: float
) -> tuple[float, float]:
    """(lowest BPCER with pooled APCER <= apcer_target, the lowest threshold achieving it)."""
    if not 0.0 <= apcer_target <= 1.0:
        raise MetricsError(f"apcer_target must be in [0, 1], got {apcer_target}")
    c = curve(scores, is_live)
    ok = np.flatnonzero(c.apcer <= apcer_target + 1e-12)
    # BPCER only grows with the threshold, so the first admissible threshold is the best one.
    i = int(ok[0])
    return float(c.bpcer[i]), float(c.thresholds[i])


def hter(
    dev_scores: Iterable[float] | npt.ArrayLike,
    dev_is_live: Iterable[bool] | npt.ArrayLike,
    test_scores: Iterable[float] | npt.ArrayLike,
    test_is_live: Iterable[bool] | npt.ArrayLike,
    test_attacks: Sequence[str] | None = None,
) -> ErrorRates:
    """Rates on the test set at the dev set's EER threshold; `.hter` is the HTER."""
    _, threshold = eer(dev_scores, dev_is_live)
    return rates_at(test_scores, test_is_live, threshold, test_attacks)


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything a report quotes for one score set: threshold-free figures and rates at a threshold."""

    n: int
    auc: float
    eer: float
    eer_threshold: float
    bpcer_at_apcer: dict[float, float]
    at_threshold: ErrorRates
    threshold_source: str
    intervals: Intervals | None = None
    """95 % intervals of AUC and of the rates at the threshold, when `summarize` was asked for them."""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "n": self.n,
            "auc": self.auc,
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "bpcer_at_apcer": {f"{k:g}": v for k, v in self.bpcer_at_apcer.items()},
            "threshold_source": self.threshold_source,
            "at_threshold": self.at_threshold.to_dict(),
        }
        if self.intervals is not None:
            out["intervals"] = self.intervals.to_dict()
        return out


def summarize(
    scores: Iterable[float] | npt.ArrayLike,
    is_live: Iterable[bool] | npt.ArrayLike,
    attacks: Sequence[str] | None = None,
    threshold: float | None = None,
    apcer_targets: Sequence[float] = DEFAULT_APCER_TARGETS,
    with_intervals: bool = False,
) -> Summary:
    """AUC, EER, BPCER@APCER and the ISO rates at `threshold` (or at this set's own EER threshold); with
    `with_intervals`, their 95 % intervals too (`intervals`, about 0.2 s)."""
    data = labelled(scores, is_live, attacks)
    _require_both(data)
    eer_value, eer_threshold = eer(data.scores, data.is_live)
    chosen = eer_threshold if threshold is None else float(threshold)
    species = data.attacks.tolist()
    return Summary(
        n=int(data.scores.size),
        auc=auc(data.scores, data.is_live),
        eer=eer_value,
        eer_threshold=eer_threshold,
        bpcer_at_apcer={t: bpcer_at_apcer(data.scores, data.is_live, t)[0] for t in apcer_targets},
        at_threshold=rates_at(data.scores, data.is_live, chosen, species),
        threshold_source="own EER" if threshold is None else "given",
        intervals=intervals(data.is_live, scores=data.scores, accepted=data.scores >= chosen, attacks=species)
        if with_intervals
        else None,
    )


# --- several held-out folds (liveness.data.protocols) ----------------------------------------------------


def fold_mean(summaries: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The mean over folds of ACER, APCER and BPCER (at each fold's threshold), AUC and EER, from each
    fold's `Summary.to_dict()`."""
    at = [s["at_threshold"] for s in summaries]
    return {
        **{k: float(np.mean([a[k] for a in at])) for k in ("acer", "apcer", "bpcer")},
        **{k: float(np.mean([s[k] for s in summaries])) for k in ("auc", "eer")},
    }


def _fold_cells(name: str, live: str, attack: str, rates: Mapping[str, Any], auc: float, eer: float) -> str:
    pct = " ".join(f"{100 * rates[k]:6.1f}%" for k in ("apcer", "bpcer", "acer"))
    return f"{name:34s} {live:>5s} {attack:>6s} {pct} {auc:6.3f} {100 * eer:5.1f}%"


def fold_table_head() -> str:
    """The column names of `fold_line` and `fold_mean_line`, aligned with them."""
    head = ("held out", "live", "attack", "APCER", "BPCER", "ACER", "AUC", "EER")
    return (
        f"{head[0]:34s} {head[1]:>5s} {head[2]:>6s} "
        + " ".join(f"{h:>7s}" for h in head[3:])
        + "  95 % intervals: ACER; AUC"
    )


def fold_line(name: str, summary: Mapping[str, Any]) -> str:
    """One held-out fold as a text row: its counts, APCER, BPCER, ACER, AUC and EER (`Summary.to_dict()`),
    then the intervals of ACER and AUC where the summary has them."""
    a = summary["at_threshold"]
    attacks = str(sum(a["n_attack_by_species"].values()))
    line = _fold_cells(name, str(a["n_bona_fide"]), attacks, a, summary["auc"], summary["eer"])
    ci = summary.get("intervals")
    if ci:
        line += f"  {interval_text(ci['acer']) or 'n/a'}; {interval_text(ci['auc'], auc=True) or 'n/a'}"
    return line


def interval_text(pair: Sequence[float] | None, auc: bool = False) -> str:
    """'low-high' of an `Intervals` pair (AUC to three places, a rate in %), or '' for None."""
    if not pair:
        return ""
    if auc:
        return f"{pair[0]:.3f}-{pair[1]:.3f}"
    return f"{100 * pair[0]:.1f}-{100 * pair[1]:.1f} %"


def fold_mean_line(mean: Mapping[str, Any]) -> str:
    """The `fold_mean` row under the `fold_line` rows."""
    return _fold_cells("mean", "", "", mean, mean["auc"], mean["eer"])


# --- confidence intervals --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Intervals:
    """95 % (CI_LEVEL) intervals of one score set's figures; each a (low, high) pair, None where the data
    cannot give it. See the module docstring for the methods and what they assume."""

    level: float
    auc: tuple[float, float] | None
    acer: tuple[float, float] | None
    apcer: tuple[float, float] | None
    bpcer: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        def pair(v: tuple[float, float] | None) -> list[float] | None:
            return None if v is None else [v[0], v[1]]

        return {
            "level": self.level,
            "method": "AUC, ACER: percentile bootstrap by class; APCER, BPCER: Wilson; presentations "
            "treated as independent",
            "auc": pair(self.auc),
            "acer": pair(self.acer),
            "apcer": pair(self.apcer),
            "bpcer": pair(self.bpcer),
        }


def _auc_batched(live: FloatArray, attack: FloatArray, axis: int = -1) -> FloatArray:
    """`auc` along the last axis of batched samples (the Mann-Whitney U of the live scores' ranks)."""
    from scipy import stats

    n_live, n_attack = live.shape[axis], attack.shape[axis]
    ranks = stats.rankdata(np.concatenate([live, attack], axis=axis), axis=axis)
    u = ranks[..., :n_live].sum(axis=axis) - n_live * (n_live + 1) / 2.0
    return np.asarray(u / (n_live * n_attack), dtype=np.float64)


def _acer_batched(rejected_live: FloatArray, *accepted: FloatArray, axis: int = -1) -> FloatArray:
    """ACER along the last axis: (the worst species' share accepted + the live share rejected) / 2."""
    worst = np.max(np.stack([a.mean(axis=axis) for a in accepted]), axis=0)
    return np.asarray((worst + rejected_live.mean(axis=axis)) / 2.0, dtype=np.float64)


def _bootstrap(
    samples: Sequence[FloatArray], statistic: Any, seed: int, n_resamples: int, level: float
) -> tuple[float, float]:
    from scipy import stats

    result = stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=n_resamples,
        batch=BOOTSTRAP_BATCH,
        vectorized=True,
        axis=-1,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def wilson(k: int, n: int, level: float = CI_LEVEL) -> tuple[float, float]:
    """Wilson score interval of the proportion k / n (n > 0)."""
    from scipy import stats

    if n <= 0 or not 0 <= k <= n:
        raise MetricsError(f"a proportion needs 0 <= k <= n and n > 0, got {k} / {n}")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def intervals(
    is_live: Iterable[bool] | npt.ArrayLike,
    *,
    scores: Iterable[float] | npt.ArrayLike | None = None,
    accepted: Iterable[bool] | npt.ArrayLike | None = None,
    attacks: Sequence[str] | None = None,
    level: float = CI_LEVEL,
    n_resamples: int = CI_RESAMPLES,
    seed: int = CI_SEED,
) -> Intervals:
    """Intervals of AUC (from `scores`) and of APCER (worst species), BPCER and ACER (from the `accepted`
    decisions), over the same presentations. Either may be None; an interval the data cannot give (one
    class missing, or fewer than two presentations of a class for a bootstrap) is None."""
    live = _as_array(is_live).astype(bool)
    auc_ci = acer_ci = apcer_ci = bpcer_ci = None
    if scores is not None:
        data = labelled(scores, live)
        pos, neg = data.scores[data.is_live], data.scores[~data.is_live]
        if pos.size >= 2 and neg.size >= 2:
            if pos.min() > neg.max():  # every resample separates perfectly: the interval is the point
                auc_ci = (1.0, 1.0)
            else:
                auc_ci = _bootstrap((pos, neg), _auc_batched, seed, n_resamples, level)
    if accepted is not None:
        acc = _as_array(accepted).astype(bool)
        data = labelled(acc.astype(np.float64), live, attacks)
        if data.n_bona_fide and data.n_attack:
            rejected_live = (~acc[data.is_live]).astype(np.float64)
            species = sorted(set(data.attacks[~data.is_live].tolist()))
            by_species = [acc[data.attacks == sp].astype(np.float64) for sp in species]
            rates = rates_from_decisions(acc, data.is_live, data.attacks.tolist())
            worst = by_species[species.index(rates.worst_species)]
            bpcer_ci = wilson(int(rejected_live.sum()), rejected_live.size, level)
            apcer_ci = wilson(int(worst.sum()), worst.size, level)
            if rejected_live.size >= 2 and min(a.size for a in by_species) >= 2:
                if all(np.ptp(a) == 0 for a in (rejected_live, *by_species)):
                    acer_ci = (rates.acer, rates.acer)  # no resample can differ
                else:
                    acer_ci = _bootstrap(
                        (rejected_live, *by_species), _acer_batched, seed, n_resamples, level
                    )
    return Intervals(level=level, auc=auc_ci, acer=acer_ci, apcer=apcer_ci, bpcer=bpcer_ci)
