"""`liveness train texture` end to end on a tiny synthetic data root: faces found, protocols run, artifact
written and servable, held-out scores kept."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner

from liveness.types import CheckOptions, Face, FaceObservation, Media
from liveness.vision.face import detect_boxes
from texture.model import TextureModel, TextureSettings
from texture.train import cli


def _variant(image: np.ndarray, live: bool, k: int) -> np.ndarray:
    """Live: the photo with a small exposure change; spoof: a blurred, re-quantised copy (print-like)."""
    out = np.clip(image.astype(np.float32) * (0.9 + 0.05 * k), 0, 255).astype(np.uint8)
    if not live:
        out = cv2.GaussianBlur(out, (0, 0), 2.0)
        out = (out // 24 * 24).astype(np.uint8)
    return np.ascontiguousarray(out)


def _root(tmp_path: Path, astronaut: np.ndarray) -> Path:
    root = tmp_path / "data"
    for label in ("live", "spoof"):
        folder = root / "nuaa" / label / "0001"
        folder.mkdir(parents=True)
        for session in ("01", "02"):
            for k in range(3):
                image = _variant(astronaut, label == "live", k + (3 if session == "02" else 0))
                cv2.imwrite(str(folder / f"0001_00_00_{session}_{k}.jpg"), image[..., ::-1])
    more = root / "replay-more"
    rows = []
    for source in ("a", "b"):
        for label in ("live", "spoof"):
            (more / source / label).mkdir(parents=True)
            for k in range(3):
                path = f"{source}/{label}/{k}.png"
                cv2.imwrite(str(more / path), _variant(astronaut, label == "live", k)[..., ::-1])
                rows.append(
                    {
                        "path": path,
                        "label": label,
                        "kind": "image",
                        "attack": "none" if label == "live" else "replay",
                        "source": source,
                    }
                )
    with (more / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_cli_validates_on_held_out_domains_and_writes_a_servable_artifact(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    root, out, cache = _root(tmp_path, astronaut), tmp_path / "models", tmp_path / "cache"
    args = ["--data", str(root), "--out", str(out), "--cache", str(cache), "--jobs", "1"]
    result = CliRunner().invoke(cli, [*args, "--protocol", "cross-session", "--protocol", "cross-source"])
    assert result.exit_code == 0, result.output
    assert "nuaa/s01" in result.output and "replay-more/a" in result.output
    report = json.loads((out / "metrics.json").read_text())
    folds = report["protocols"]["cross-session"]["folds"]
    assert [f["fold"] for f in folds] == ["nuaa/s01", "nuaa/s02"]
    assert all(f["faces"]["at_threshold"]["n_bona_fide"] == 3 for f in folds)
    assert [f["fold"] for f in report["protocols"]["cross-source"]["folds"]] == [
        "nuaa",
        "replay-more/a",
        "replay-more/b",
    ]
    with (cache / "oof_scores.csv").open() as fh:
        held = list(csv.DictReader(fh))
    assert len(held) == 12 + 24  # every NUAA face once per session fold, every face once per source fold
    model = TextureModel(TextureSettings(model_path=out / "texture.npz"))
    (box,) = detect_boxes(astronaut)[:1]
    media = Media((astronaut,), (0,), False)
    result_live = model.check(media, [FaceObservation(0, 1, Face(box))], CheckOptions())
    assert 0.0 <= result_live.score <= 1.0
    artifact = (out / "texture.npz").read_bytes()
    assert report["artifacts"] == {
        "texture.npz": {"bytes": len(artifact), "sha256": hashlib.sha256(artifact).hexdigest()}
    }
