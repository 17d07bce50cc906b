"""Confidence intervals of the ISO figures (iso30107.intervals): the batched statistics equal the plain ones,
the intervals hold their point estimates, shrink with the data, and cover the truth about as often as they
claim on data drawn from known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liveness import iso30107 as m


def test_batched_auc_equals_the_mann_whitney_auc_with_ties() -> None:
    rng = np.random.default_rng(3)
    live = rng.integers(0, 6, size=(5, 40)).astype(np.float64)  # few values: many ties
    attack = rng.integers(0, 5, size=(5, 25)).astype(np.float64)
    batched = m._auc_batched(live, attack)
    for b in range(5):
        scores = np.r_[live[b], attack[b]]
        labels = np.r_[np.ones(40, bool), np.zeros(25, bool)]
        assert batched[b] == pytest.approx(m.auc(scores, labels), abs=1e-12)


def test_batched_acer_takes_the_worst_species() -> None:
    rejected_live = np.array([[1.0, 0, 0, 0]])  # BPCER 1/4
    prints = np.array([[1.0, 0]])  # APCER print 1/2
    replays = np.array([[1.0, 1, 1]])  # APCER replay 1
    assert m._acer_batched(rejected_live, prints, replays)[0] == pytest.approx((1.0 + 0.25) / 2)
    rates = m.rates_from_decisions(
        [False, True, True, True, True, False, True, True, True],
        [True] * 4 + [False] * 5,
        ["none"] * 4 + ["print", "print", "replay", "replay", "replay"],
    )
    assert rates.acer == pytest.approx(0.625)


def _normal_sets(rng: np.random.Generator, n_live: int, n_attack: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.r_[rng.normal(1.0, 1.0, n_live), rng.normal(0.0, 1.0, n_attack)]
    return scores, np.r_[np.ones(n_live, bool), np.zeros(n_attack, bool)]


def test_intervals_hold_their_point_estimates_and_repeat_with_the_seed() -> None:
    scores, live = _normal_sets(np.random.default_rng(0), 120, 60)
    accepted = scores >= 0.5
    ci = m.intervals(live, scores=scores, accepted=accepted)
    rates = m.rates_from_decisions(accepted, live)
    assert ci.auc is not None and ci.acer is not None and ci.apcer is not None and ci.bpcer is not None
    assert ci.auc[0] < m.auc(scores, live) < ci.auc[1]
    assert ci.acer[0] < rates.acer < ci.acer[1]
    assert ci.apcer[0] < rates.apcer < ci.apcer[1] and ci.bpcer[0] < rates.bpcer < ci.bpcer[1]
    assert m.intervals(live, scores=scores, accepted=accepted) == ci
    other = m.intervals(live, scores=scores, seed=1).auc
    assert other is not None and other != ci.auc
    assert abs(other[0] - ci.auc[0]) < 0.02 and abs(other[1] - ci.auc[1]) < 0.02
    d = ci.to_dict()
    assert d["level"] == 0.95 and d["auc"] == list(ci.auc) and "independent" in d["method"]


def test_intervals_narrow_as_one_over_the_root_of_the_count() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 400):
        scores, live = _normal_sets(rng, n, n)
        auc = m.intervals(live, scores=scores).auc
        assert auc is not None
        widths.append(auc[1] - auc[0])
    assert 0.35 < widths[1] / widths[0] < 0.65  # 1/2 expected


def test_auc_intervals_cover_the_true_auc_about_as_often_as_claimed() -> None:
    # live ~ N(1, 1), attack ~ N(0, 1): the true AUC is Phi(1 / sqrt 2).
    true_auc = 0.5 * (1.0 + math.erf(0.5))
    rng = np.random.default_rng(2)
    covered = 0
    trials = 120
    for _ in range(trials):
        scores, live = _normal_sets(rng, 60, 40)
        low, high = m.intervals(live, scores=scores, n_resamples=500).auc or (0.0, 0.0)
        covered += low <= true_auc <= high
    assert 0.87 <= covered / trials <= 0.99


def test_wilson_intervals_of_rates_with_no_error_still_have_width() -> None:
    # 0 of 50 attacks accepted: Wilson's upper bound is z^2 / (n + z^2).
    z2 = 1.959963984540054**2
    low, high = m.wilson(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(z2 / (50 + z2), rel=1e-9)
    ci = m.intervals([True] * 25 + [False] * 26, accepted=[True] * 25 + [False] * 26)
    assert ci.acer == (0.0, 0.0)  # no resample can err
    assert ci.apcer is not None and ci.apcer[1] == pytest.approx(m.wilson(0, 26)[1])
    with pytest.raises(m.MetricsError):
        m.wilson(3, 0)


def test_intervals_the_data_cannot_give_are_none() -> None:
    ci = m.intervals([True, False, False], scores=[0.9, 0.1, 0.2], accepted=[True, False, False])
    assert ci.auc is None and ci.acer is None  # one live presentation: nothing to resample
    assert ci.bpcer is not None and ci.apcer is not None
    separated = m.intervals([True, True, False, False], scores=[0.9, 0.8, 0.1, 0.2])
    assert separated.auc == (1.0, 1.0) and separated.acer is None


def test_a_summary_carries_its_intervals_into_the_fold_table_when_asked() -> None:
    scores, live = _normal_sets(np.random.default_rng(4), 80, 40)
    plain = m.summarize(scores, live, threshold=0.5)
    assert plain.intervals is None and "intervals" not in plain.to_dict()
    summary = m.summarize(scores, live, threshold=0.5, with_intervals=True).to_dict()
    assert summary["intervals"] == m.intervals(live, scores=scores, accepted=scores >= 0.5).to_dict()
    acer, auc = summary["intervals"]["acer"], summary["intervals"]["auc"]
    line = m.fold_line("nuaa/s01", summary)
    assert line.startswith(m.fold_line("nuaa/s01", plain.to_dict()))
    assert line.endswith(f"  {100 * acer[0]:.1f}-{100 * acer[1]:.1f} %; {auc[0]:.3f}-{auc[1]:.3f}")
    assert m.interval_text(None) == "" and m.interval_text((0.5, 0.75)) == "50.0-75.0 %"
    assert m.interval_text((0.5, 0.75), auc=True) == "0.500-0.750"
    assert m.fold_table_head().endswith("95 % intervals: ACER; AUC")


def test_the_bootstrap_ranks_its_resamples_in_batches() -> None:
    """2,000 resamples of 10,000 presentations ranked at once peaked at 1.2 GB; in batches, near 100 MB."""
    import tracemalloc

    scores, live = _normal_sets(np.random.default_rng(5), 5000, 5000)
    tracemalloc.start()
    try:
        m.intervals(live, scores=scores)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 300e6
