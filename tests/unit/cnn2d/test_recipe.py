"""What each protocol's models train on: the recipe's NUAA thinning and the replay sets, counted with the
network training stubbed out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the train extra (tensorflow-cpu, tf2onnx) is not installed")


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
