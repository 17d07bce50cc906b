"""The training command end to end on a tiny synthetic crop cache (deselected by default: -m train)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cnn2d.data import CACHE_VERSION, CONTEXT_SIZE, Crops
from cnn2d.model import CROP_SIZE, SCALES, Cnn2dModel, Cnn2dSettings

pytestmark = pytest.mark.train


def _fake_crops(n: int, source: str) -> Crops:
    rng = np.random.default_rng(0)
    live = np.arange(n) % 2 == 0
    context = rng.integers(0, 255, (n, CONTEXT_SIZE, CONTEXT_SIZE, 3), dtype=np.uint8)
    context[live] //= 2  # something to learn
    half = CONTEXT_SIZE / 4
    c = CONTEXT_SIZE / 2
    return Crops(
        inputs=rng.integers(0, 255, (n, len(SCALES), CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8),
        context=context,
        boxes=np.tile(np.array([c - half, c - half, c + half, c + half], np.float32), (n, 1)),
        live=live,
        group=np.array([f"{source}{i % 2}" for i in range(n)]),
        clip=np.array([f"{source}{i % 2}/{'live' if live[i] else 'spoof'}" for i in range(n)]),
        faces=np.ones(n, np.int16),
    )


def _cached(tmp_path: Path, **sets: Crops) -> list[str]:
    """Crop caches under tmp_path/cache as the data sets' names (replay_dev -> replay-dev), an empty data
    folder, and the command's --data/--out/--cache arguments (the models go to tmp_path/models)."""
    suffix = f"v{CACHE_VERSION}-s{'_'.join(map(str, SCALES))}-{CROP_SIZE}.npz"
    for name, crops in sets.items():
        crops.save(tmp_path / "cache" / f"{name.replace('_', '-')}-{suffix}")
    (tmp_path / "data").mkdir()
    return [
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "models"),
        "--cache",
        str(tmp_path / "cache"),
    ]


def test_cli_trains_exports_and_reports(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="the train extra is not installed")
    args = [*_cached(tmp_path, nuaa=_fake_crops(24, "s"), replay_dev=_fake_crops(8, "r")), "--epochs", "2"]
    out = tmp_path / "models"
    from cnn2d.train import cli

    result = CliRunner().invoke(
        cli, [*args, "--folds", "0", "--batch-size", "8", "--threads", "1", "--members", "2"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    assert report["onnx"]["max_abs_diff"] <= 1e-4 and report["replay_dev_final_model"]["clips_total"] == 2
    assert report["members"] == 2
    written = (out / "cnn2d.onnx").read_bytes()
    assert report["artifacts"] == {
        "cnn2d.onnx": {"bytes": len(written), "sha256": hashlib.sha256(written).hexdigest()}
    }
    model = Cnn2dModel(Cnn2dSettings(model_path=out / "cnn2d.onnx"))
    assert model.score_faces(np.zeros((2, len(SCALES), CROP_SIZE, CROP_SIZE, 3), np.float32)).shape == (2,)


def test_cross_source_holds_each_replay_more_source_out(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="the train extra is not installed")
    source = np.where(np.arange(10) < 6, "a", "b")
    clips = np.array([f"replay-more/{s}/{i}.png" for i, s in enumerate(source)])
    more = replace(_fake_crops(10, "m"), group=source, clip=clips)
    args = [*_cached(tmp_path, nuaa=_fake_crops(12, "s"), replay_dev=_fake_crops(4, "r"), replay_more=more)]
    args += ["--epochs", "1"]
    out = tmp_path / "models"
    from cnn2d.train import cli

    args += ["--batch-size", "8", "--threads", "1", "--members", "1", "--cross-source", "all"]
    result = CliRunner().invoke(cli, [*args, "--replay-more", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics-cross-source.json").read_text())
    folds = report["protocols"]["cross-source"]
    assert [f["fold"] for f in folds] == ["replay-more/a", "replay-more/b"]
    for fold, held in zip(folds, ("a", "b"), strict=True):
        assert sorted(fold["scores"]) == sorted(c for c, s in zip(clips, source, strict=True) if s == held)
        # NUAA, replay-dev twice, and the other source twice; never the held-out source
        assert fold["train_faces"] == 12 + 2 * 4 + 2 * int((source != held).sum())
    assert not (out / "cnn2d.onnx").exists()
    bad = CliRunner().invoke(cli, [*args[:-1], "nosuch"])
    assert bad.exit_code != 0 and "nosuch" in bad.output


def test_hold_out_leaves_a_domain_out_of_the_served_model(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="the train extra is not installed")
    # live and spoof faces in every domain: NUAA sessions 01 and 02, replay-dev sources r0 and r1 (4 each)
    nuaa = replace(
        _fake_crops(12, "s"), clip=np.array([f"0001_00_00_0{1 + (i // 2) % 2}_{i}.jpg" for i in range(12)])
    )
    replay = _fake_crops(8, "r")
    group = np.array([f"r{(i // 2) % 2}" for i in range(8)])
    clip = np.array([f"{g}/{'live' if v else 'spoof'}" for g, v in zip(group, replay.live, strict=True)])
    args = [
        *_cached(tmp_path, nuaa=nuaa, replay_dev=replace(replay, group=group, clip=clip)),
        "--epochs",
        "1",
    ]
    out = tmp_path / "models"
    from cnn2d.train import cli

    args += ["--batch-size", "8", "--threads", "1", "--members", "1"]
    refused = CliRunner().invoke(cli, [*args, "--hold-out", "replay-dev/r0"])  # the folds would train on it
    assert refused.exit_code != 0 and "--folds 0" in refused.output
    unknown = CliRunner().invoke(cli, [*args, "--folds", "0", "--hold-out", "replay-dev/nobody"])
    assert unknown.exit_code != 0 and "matches no training face" in unknown.output
    result = CliRunner().invoke(cli, [*args, "--folds", "0", "--hold-out", "replay-dev/r0"])
    assert result.exit_code == 0, result.output
    assert "replay-dev/r0: 4 faces left out" in result.output
    report = json.loads((out / "metrics.json").read_text())
    assert report["hold_out"] == "replay-dev/r0"
    assert sorted(report["replay_dev_final_model"]["clips"]) == ["r1/live", "r1/spoof"]
    session = CliRunner().invoke(cli, [*args, "--folds", "0", "--hold-out", "nuaa/s02", "--no-replay"])
    assert session.exit_code == 0 and "nuaa/s02: 6 faces left out" in session.output, session.output
    crossed = CliRunner().invoke(cli, [*args, "--cross-session"])
    assert crossed.exit_code == 0, crossed.output
    folds = json.loads((out / "metrics-cross-session.json").read_text())["protocols"]["cross-session"]
    assert [f["fold"] for f in folds] == ["nuaa/s01", "nuaa/s02"]
    assert [len(f["scores"]) for f in folds] == [6, 6] and [f["train_faces"] for f in folds] == [6 + 16] * 2
