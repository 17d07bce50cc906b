"""DET/ROC/histogram PNGs: files are written and decodable; the probit scale is right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from liveness import iso30107, plots

pytest.importorskip("matplotlib", reason="matplotlib is in the train extra; plots need it")


def test_probit_scale() -> None:
    # Standard normal quantiles: 0.5 -> 0, 0.8413 -> about 1, 0.0228 -> about -2; 0 and 1 clip to the range.
    got = plots.probit([0.5, 0.841345, 0.02275, 0.0, 1.0])
    assert got[:3] == pytest.approx([0.0, 1.0, -2.0], abs=1e-3)
    assert got[3] == pytest.approx(plots.probit([plots.DET_MIN_RATE])[0])
    assert got[4] == pytest.approx(plots.probit([plots.DET_MAX_RATE])[0])


def test_plots_write_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    live = np.clip(rng.normal(0.7, 0.15, 60), 0, 1)
    attack = np.clip(rng.normal(0.3, 0.15, 60), 0, 1)
    scores = np.concatenate([live, attack])
    is_live = np.array([True] * 60 + [False] * 60)
    c = iso30107.curve(scores, is_live)
    classes = ["none"] * 60 + ["print"] * 30 + ["replay"] * 30
    written = [
        plots.det_plot({"model": c}, tmp_path / "det.png"),
        plots.roc_plot({"model": c}, tmp_path / "roc.png"),
        plots.histogram_plot(scores, classes, tmp_path / "hist.png", threshold=0.5),
    ]
    for path in written:
        with Image.open(path) as img:
            assert img.format == "PNG"
            assert img.width > 300 and img.height > 200


def test_histogram_checks_lengths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="class names"):
        plots.histogram_plot([0.1, 0.2], ["none"], tmp_path / "h.png")
