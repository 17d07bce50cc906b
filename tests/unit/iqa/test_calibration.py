"""The Platt calibration of the training script and its inner, subject-disjoint folds."""

from __future__ import annotations

import numpy as np
import pytest

from iqa import quality
from iqa.train import Item, inner_decisions, platt

from .conftest import synthetic_raws


def test_platt_puts_the_half_point_between_equal_variance_classes() -> None:
    rng = np.random.default_rng(0)
    live = np.array([True] * 3000 + [False] * 1000)  # unbalanced: the class weights must undo it
    d = np.where(live, 2.0, -1.0) + rng.normal(0.0, 1.0, live.size)
    slope, offset = platt(d, live)
    # Balanced logistic regression on N(2, 1) vs N(-1, 1): log-odds (2 - (-1)) (d - 0.5) / 1.
    assert -offset / slope == pytest.approx(0.5, abs=0.1)
    assert slope == pytest.approx(3.0, rel=0.15)


@pytest.fixture(scope="module")
def subjects() -> tuple[list[Item], list[quality.RawFeatures], np.ndarray]:
    """Five subjects, each with 3 sharp (live) and 3 blurred (spoof) synthetic pictures."""
    raws, live = synthetic_raws(15, seed=3)
    items = [
        Item(f"img{i}", "nuaa", bool(lv), "none" if lv else "print", f"{i % 5:04d}")
        for i, lv in enumerate(live)
    ]
    return items, raws, live


def test_inner_decisions_never_see_the_held_out_items(
    subjects: tuple[list[Item], list[quality.RawFeatures], np.ndarray],
) -> None:
    items, raws, live = subjects
    train_idx = np.array([i for i, it in enumerate(items) if it.subject != "0004"])
    biqi = quality.BiqiModel(
        np.zeros(18), np.ones(18), np.eye(4, 18), np.zeros(4), np.full((4, 18), 0.5), np.full(4, 50.0)
    )
    d = inner_decisions(items, raws, live, train_idx, biqi)
    assert d.shape == train_idx.shape and np.isfinite(d).all()
    # Replacing every picture of the subject outside train_idx changes nothing.
    swapped = list(raws)
    for i, it in enumerate(items):
        if it.subject == "0004":
            swapped[i] = raws[(i + 1) % len(raws)]
    np.testing.assert_array_equal(inner_decisions(items, swapped, live, train_idx, biqi), d)
    # Sharp pictures get higher out-of-fold decisions than blurred ones on the whole.
    assert d[live[train_idx]].mean() > d[~live[train_idx]].mean()
