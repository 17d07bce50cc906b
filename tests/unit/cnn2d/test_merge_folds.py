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


def _crops(n: int, groups: list[str]) -> Any:
    from cnn2d.data import Crops

    return Crops(
        inputs=np.zeros((n, 3, 2, 2, 3), np.uint8),
        context=np.zeros((n, 2, 2, 3), np.uint8),
        boxes=np.zeros((n, 4), np.float32),
        live=np.arange(n) % 2 == 0,
        group=np.array([groups[(i // 2) % len(groups)] for i in range(n)]),  # a live and a spoof face each
        clip=np.array([f"{groups[(i // 2) % len(groups)]}/{i}" for i in range(n)]),
        faces=np.ones(n, np.int16),
    )


def test_validation_folds_and_cross_source_train_on_what_the_recipe_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnn2d import train
    from cnn2d.augment import AugmentSettings
    from cnn2d.net import NetSettings

    seen: list[int] = []

    def fake_members(train_set: Any, *args: Any) -> str:
        seen.append(len(train_set))
        return "model"

    monkeypatch.setattr(train, "train_members", fake_members)
    monkeypatch.setattr(train, "predict", lambda model, inputs: np.full(len(inputs), 0.5))
    nuaa = _crops(12, ["p1", "p2", "p3"])
    replay, more = _crops(4, ["a", "b"]), _crops(6, ["x", "y"])
    masks = [([p], nuaa.group == p) for p in ("p1", "p2", "p3")]
    monkeypatch.setattr(train, "_nuaa_fold_masks", lambda *args: masks)
    recipe = train.Recipe(1, 1, 8, 7, AugmentSettings(), NetSettings(), False, nuaa_every=2)
    report: dict[str, Any] = {}
    kwargs: dict[str, Any] = dict(fold_only=None, merged_from=None, replay_repeat=2, more=None, more_repeat=0)
    train.validate_folds(report, tmp_path, nuaa, replay, 3, use_replay=True, recipe=recipe, **kwargs)
    # 8 NUAA faces of two people thinned to 4, and replay-dev without the held-out source, twice: 2 x 2
    assert seen == [4 + 4] * 3 and [r["train_faces"] for r in report["nuaa_folds"]] == seen
    seen.clear()
    train.validate_folds(report, tmp_path, nuaa, replay, 3, use_replay=False, recipe=recipe, **kwargs)
    assert seen == [4] * 3
    seen.clear()
    rows = train.cross_source_folds(nuaa, None, 2, more, 1, ["x", "y"], recipe)
    # all 12 NUAA faces thinned to 6, and the other source once (x holds 4 faces, y 2); no replay-dev
    assert seen == [6 + 2, 6 + 4] and [r["fold"] for r in rows] == ["replay-more/x", "replay-more/y"]
    seen.clear()
    train.cross_source_folds(nuaa, replay, 2, more, 1, ["x"], recipe)
    assert seen == [6 + 2 * 4 + 2]
