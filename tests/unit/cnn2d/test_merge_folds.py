"""Folds trained apart (`--fold-only N`) merge into one report only when they used the same recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from liveness.errors import InvalidInput

pytest.importorskip("tensorflow", reason="the train extra (tensorflow-cpu, tf2onnx) is not installed")


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "seed": 7,
        "epochs": 6,
        "batch_size": 64,
        "augment": {"flip": 0.5, "gamma": (0.75, 1.35)},  # a tuple, as asdict() leaves it
        "net": {"cdc_theta": 0.0},
        "ema": 0.0,
        "replay_repeat": 2,
        "train_on_replay_dev": True,
    }
    return {**report, **changes}


def _write_fold(path: Path, fold: int, **changes: Any) -> None:
    row = {
        "fold": fold,
        "eer": 0.01,
        "at_threshold": {"acer": 0.02},
        "replay_dev_held_out": {"scores": [0.9]},
    }
    path.write_text(json.dumps({**_report(**changes), "nuaa_folds": [row]}))


def test_a_fold_with_the_same_recipe_is_taken(tmp_path: Path) -> None:
    from cnn2d.train import _fold_row_from_file

    _write_fold(tmp_path / "metrics-fold1.json", 1)
    row = _fold_row_from_file(tmp_path / "metrics-fold1.json", _report(), 1)
    assert row["fold"] == 1 and row["at_threshold"]["acer"] == 0.02


@pytest.mark.parametrize("change", [{"epochs": 10}, {"net": {"cdc_theta": 0.7}}, {"seed": 8}, {"ema": 0.99}])
def test_a_fold_with_another_recipe_is_refused(tmp_path: Path, change: dict[str, Any]) -> None:
    from cnn2d.train import _fold_row_from_file

    _write_fold(tmp_path / "metrics-fold0.json", 0, **change)
    with pytest.raises(InvalidInput, match="other settings"):
        _fold_row_from_file(tmp_path / "metrics-fold0.json", _report(), 0)


def test_a_missing_or_wrong_fold_is_refused(tmp_path: Path) -> None:
    from cnn2d.train import _fold_row_from_file

    with pytest.raises(InvalidInput, match="missing"):
        _fold_row_from_file(tmp_path / "metrics-fold2.json", _report(), 2)
    _write_fold(tmp_path / "metrics-fold2.json", 1)
    with pytest.raises(InvalidInput, match="no result for fold 2"):
        _fold_row_from_file(tmp_path / "metrics-fold2.json", _report(), 2)


def test_fold_summary_pools_replay_scores_once_every_source_is_held_out() -> None:
    from cnn2d.data import Crops
    from cnn2d.train import _fold_summary

    n = 4
    replay = Crops(
        inputs=np.zeros((n, 3, 2, 2, 3), np.uint8),
        context=np.zeros((n, 2, 2, 3), np.uint8),
        boxes=np.zeros((n, 4), np.float32),
        live=np.array([True, False, True, False]),
        group=np.array(["a", "a", "b", "b"]),
        clip=np.array(["a/live", "a/spoof", "b/live", "b/spoof"]),
        faces=np.ones(n, np.int16),
    )
    rows = [{"eer": 0.0, "at_threshold": {"acer": 0.0}}, {"eer": 0.1, "at_threshold": {"acer": 0.04}}]
    report: dict[str, Any] = {}
    scores = np.array([0.9, 0.1, np.nan, np.nan])
    _fold_summary(report, rows, scores, replay, use_replay=True)
    assert report["nuaa_mean_acer"] == pytest.approx(0.02) and "replay_dev_held_out" not in report
    scores[2:] = [0.2, 0.3]  # source b: its live clip is rejected
    _fold_summary(report, rows, scores, replay, use_replay=True)
    assert report["replay_dev_held_out"]["clips_correct"] == 3
