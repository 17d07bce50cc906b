"""Track windows skip frames without a face; the cache round-trips; evaluation scores windows via check."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from voxel3d import synth
from voxel3d.crossval import _brief, score_held_out
from voxel3d.evaluate import figures, score_windows
from voxel3d.model import GEOMETRY_FILE, MODEL_FILE, Voxel3dModel, Voxel3dSettings
from voxel3d.tracks import Track, _load, _save


def _track(label: str, points: np.ndarray, valid: np.ndarray) -> Track:
    ts = np.arange(len(points), dtype=np.int64) * 50
    return Track(f"t/{label}", label, "none" if label == "live" else "print", "s1", points, valid, ts)


def test_windows_use_valid_frames_only() -> None:
    points = np.arange(10 * 68 * 2, dtype=np.float32).reshape(10, 68, 2)
    valid = np.array([True, False] + [True] * 8)
    windows = list(_track("live", points, valid).windows(4, 2))
    assert len(windows) == 3  # 9 valid frames: starts 0, 2, 4
    np.testing.assert_array_equal(windows[0][1], points[2])  # frame 1 is skipped


def test_cache_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tracks = [
        _track("live", rng.random((5, 68, 2), dtype=np.float32), np.ones(5, bool)),
        _track("spoof", rng.random((3, 68, 2), dtype=np.float32), np.array([True, False, True])),
    ]
    _save(tmp_path / "t.npz", tracks)
    back = _load(tmp_path / "t.npz")
    assert [(t.name, t.label, t.attack, t.subject) for t in back] == [
        (t.name, t.label, t.attack, t.subject) for t in tracks
    ]
    for a, b in zip(back, tracks, strict=True):
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.valid, b.valid)


def test_evaluation_scores_windows_through_check(
    tiny_onnx: Path, geometry_npz: Path, reference: np.ndarray
) -> None:
    model = Voxel3dModel(Voxel3dSettings(model_path=tiny_onnx, geometry_path=geometry_npz, scorer="cnn"))
    rng = np.random.default_rng(3)
    live = synth.synth_track("live", reference, 24, rng, amplitude_deg=25.0).astype(np.float32)
    still = synth.synth_track("print", reference, 24, rng, synth.SynthSettings(noise_px=(0.3, 0.3)), 0.0)
    tracks = [
        _track("live", live, np.ones(24, bool)),
        _track("spoof", still.astype(np.float32), np.ones(24, bool)),
    ]
    rows = score_windows(model, tracks, 12, 12)
    assert len(rows) == 4
    assert {r["status"] for r in rows if r["live"]} == {"OK"}
    assert {r["status"] for r in rows if not r["live"]} == {"LOW_QUALITY"}  # a print held still says nothing
    out = figures(rows, 0.5)
    assert out["verdict_fraction_live"] == 1.0 and out["verdict_fraction_spoof"] == 0.0
    assert "bpcer" in out  # only live windows got a verdict


def test_crossval_scores_a_model_folder_with_either_scorer(
    tiny_onnx: Path, geometry_npz: Path, reference: np.ndarray, tmp_path: Path
) -> None:
    """Held-out windows go through Voxel3dModel.check with the fold's artifacts, for both scorers."""
    shutil.copy(tiny_onnx, tmp_path / MODEL_FILE)
    shutil.copy(geometry_npz, tmp_path / GEOMETRY_FILE)
    rng = np.random.default_rng(8)
    turning = synth.synth_track("live", reference, 32, rng, amplitude_deg=25.0).astype(np.float32)
    tilting = synth.synth_track("print", reference, 32, rng, amplitude_deg=40.0).astype(np.float32)
    held = [_track("live", turning, np.ones(32, bool)), _track("spoof", tilting, np.ones(32, bool))]
    for scorer in ("cnn", "planarity"):
        rows = score_held_out(tmp_path, scorer, held, (8, 16))
        assert sorted(rows) == [8, 16]
        assert len(rows[8]) == 2 * 7 and len(rows[16]) == 2 * 3  # windows every frames // 2
        brief = _brief(figures(rows[8], 0.5))
        assert brief["windows"] == 14 and 0.0 <= brief["verdict_fraction_live"] <= 1.0
        scores = {r["score"] for r in rows[8] if r["status"] == "OK"}
        assert scores and all(0.0 <= s <= 1.0 for s in scores)
