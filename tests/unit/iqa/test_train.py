"""The training command end to end on a tiny synthetic data folder (marked `train`: run with -m train)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from iqa.model import ARTIFACT, IqaArtifact
from iqa.train import FEATURES, cli


def _picture(rng: np.random.Generator, live: bool) -> np.ndarray:
    grain = np.clip(rng.normal(128, 40, (48, 64, 3)), 0, 255).astype(np.uint8)
    return grain if live else cv2.GaussianBlur(grain, (0, 0), 1.5)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """nuaa/ with 4 subjects and replay-dev/ with 2 sources, 3 live and 3 spoof pictures each."""
    rng = np.random.default_rng(0)
    for subject in ("0001", "0002", "0003", "0004"):
        for label in ("live", "spoof"):
            folder = tmp_path / "nuaa" / label / subject
            folder.mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(folder / f"{subject}_00_00_01_{i}.jpg"), _picture(rng, label == "live"))
    rows = ["path,label,kind,attack,source"]
    for source in ("a/one", "b/two"):
        for label in ("live", "spoof"):
            folder = tmp_path / "replay-dev" / source.split("/")[0] / label
            folder.mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(folder / f"{i}.png"), _picture(rng, label == "live"))
                attack = "none" if label == "live" else "replay"
                rows.append(f"{source.split('/')[0]}/{label}/{i}.png,{label},image,{attack},{source}")
    (tmp_path / "replay-dev" / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


@pytest.mark.train
def test_train_cli_writes_artifact_and_metrics(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--data", str(data_dir), "--out", str(out), "--folds", "2", "--cache", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    assert len(report["nuaa_folds"]) == 2 and len(report["replay_dev_folds"]) == 2
    assert report["n_train"] == {"nuaa": 24, "replay-dev": 12, "live": 18, "spoof": 18}
    written = (out / ARTIFACT).read_bytes()
    assert report["artifacts"] == {
        ARTIFACT: {"bytes": len(written), "sha256": hashlib.sha256(written).hexdigest()}
    }
    artifact = IqaArtifact.load(out / ARTIFACT)
    assert artifact.feature_names == FEATURES and artifact.classifier.coef.shape == (len(FEATURES),)
    # A second run reads the cached features and gives the same model.
    again = CliRunner().invoke(cli, [*args[:3], str(tmp_path / "out2"), *args[4:]])
    assert again.exit_code == 0, again.output
    np.testing.assert_allclose(
        IqaArtifact.load(tmp_path / "out2" / ARTIFACT).classifier.coef, artifact.classifier.coef
    )
