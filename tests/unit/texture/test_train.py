"""texture.train: domain-balanced weights, calibration fitted on held-out domains only."""

from __future__ import annotations

import numpy as np

from liveness import iso30107
from texture.features import N_FEATURES
from texture.train import consistent_features, fit_calibrated, sample_weights


def test_every_domain_and_class_weighs_the_same() -> None:
    live = np.array([True] * 6 + [False] * 2 + [True, False])
    domain = np.array(["a"] * 8 + ["b"] * 2)
    w = sample_weights(live, domain)
    totals = {(d, v): w[(domain == d) & (live == v)].sum() for d in "ab" for v in (True, False)}
    assert np.allclose(list(totals.values()), list(totals.values())[0])
    assert abs(w.sum() - len(live)) < 1e-9


def _domain(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Features where the class signal is in the first 5 dimensions and each domain adds its own offset."""
    live = rng.random(n) < 0.5
    x = rng.normal(size=(n, N_FEATURES)) + shift
    x[:, :5] += np.where(live, 1.0, -1.0)[:, None]
    return x, live


def test_a_model_fitted_on_three_domains_ranks_and_decides_a_fourth() -> None:
    rng = np.random.default_rng(0)
    parts = [_domain(rng, 200, s) for s in (0.0, 0.3, -0.3, 0.15)]
    x = np.concatenate([p[0] for p in parts[:3]])
    live = np.concatenate([p[1] for p in parts[:3]])
    domain = np.repeat(["a", "b", "c"], 200)
    model = fit_calibrated(x, live, domain, c=0.01)
    held_x, held_live = parts[3]
    p = model.proba(held_x)
    assert iso30107.auc(p, held_live) > 0.97
    assert iso30107.rates_at(p, held_live, 0.5).acer < 0.1
    assert model.platt_slope > 0


def test_features_that_flip_between_domains_are_left_out() -> None:
    rng = np.random.default_rng(1)
    xs, lives, doms = [], [], []
    for i, d in enumerate("abcde"):
        x, live = _domain(rng, 200, 0.0)
        x[:, 5] += np.where(live, 1.0, -1.0) * (1 if i % 2 else -1)  # a domain-specific cue that flips
        xs.append(x), lives.append(live), doms.append(np.repeat(d, 200))
    x, live, domain = np.concatenate(xs), np.concatenate(lives), np.concatenate(doms)
    keep = consistent_features(x, live, domain)
    assert keep[:5].all() and not keep[5]
    assert keep[6:].sum() < 10  # noise columns rarely pass
    model = fit_calibrated(x, live, domain, c=0.01)
    assert model.coef[5] == 0.0 and (model.coef[:5] > 0).all()
