"""Training helpers that need no TensorFlow: reference face, ISO rates, clip sets, weights and folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.voxel3d.conftest import synthetic_reference
from voxel3d import geometry, synth
from voxel3d.crossval import track_folds
from voxel3d.features import MIRROR_68
from voxel3d.tracks import Track
from voxel3d.train import ClipSet, _rates, derive_reference, training_weights


def test_mirror_permutation_is_an_involution() -> None:
    assert sorted(MIRROR_68.tolist()) == list(range(68))
    np.testing.assert_array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    assert MIRROR_68[36] == 45 and MIRROR_68[30] == 30 and MIRROR_68[48] == 54


def test_reference_face_is_recovered_from_live_tracks() -> None:
    ref = synthetic_reference()
    symmetric = (ref + np.diag([-1.0, 1.0, 1.0]) @ ref[:, MIRROR_68]) / 2.0
    settings = synth.SynthSettings(noise_px=(0.2, 0.2), depth_scale=(1.0, 1.0))
    rng = np.random.default_rng(11)
    tracks = []
    for i in range(3):
        pts = synth.synth_track("live", symmetric, 40, rng, settings, amplitude_deg=20.0)
        tracks.append(
            Track(f"s{i}", "live", "none", f"s{i}", pts.astype(np.float32), np.ones(40, bool), np.arange(40))
        )
    derived = derive_reference(tracks)
    assert derived.shape == (3, 68)
    assert np.sqrt(np.mean(np.sum(derived**2, axis=0))) == pytest.approx(1.0)
    # Without a reflection: the depth sign was resolved (nose towards the camera), not left to chance.
    unit = symmetric / np.sqrt(np.mean(np.sum(symmetric**2, axis=0)))
    _, residual = geometry._procrustes(derived, unit)
    _, mirrored_residual = geometry._procrustes(np.diag([1.0, 1.0, -1.0]) @ derived, unit)
    assert residual < 0.15 < mirrored_residual  # scaling, jitter and expressions keep it from being exact


def test_rates_follow_iso_definitions() -> None:
    scores = np.array([0.9, 0.8, 0.2, 0.6, 0.1])
    labels = np.array([1, 1, 1, 0, 0], np.float32)
    out = _rates(scores, labels, 0.5)
    assert out["apcer"] == pytest.approx(0.5) and out["bpcer"] == pytest.approx(1 / 3)
    assert out["acer"] == pytest.approx((0.5 + 1 / 3) / 2)
    one_class = _rates(np.array([0.9, 0.2]), np.zeros(2, np.float32), 0.5)
    assert one_class["apcer"] == 0.5 and np.isnan(one_class["bpcer"])


def _clipset(n: int, live: bool, tag: str) -> ClipSet:
    rng = np.random.default_rng(n)
    return ClipSet(
        (rng.random((n,) + (geometry.GRID_SIZE,) * 3) < 0.1).astype(np.uint8),
        rng.normal(size=(n, geometry.N_FEATURES)).astype(np.float32),
        np.full(n, 1.0 if live else 0.0, np.float32),
        rng.uniform(0, 10, n).astype(np.float32),
        rng.uniform(0, 30, n).astype(np.float32),
        [tag] * n,
    )


def test_clip_set_cache_round_trip_and_selection(tmp_path: Path) -> None:
    clips = ClipSet.concat([_clipset(5, True, "a"), ClipSet.empty(), _clipset(3, False, "b")])
    assert len(clips.labels) == 8 and clips.tags == ["a"] * 5 + ["b"] * 3
    clips.save(tmp_path / "c.npz")
    back = ClipSet.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.voxels, clips.voxels)
    np.testing.assert_array_equal(back.features, clips.features)
    assert back.tags == clips.tags
    picked = clips.select(np.array([t == "b" for t in clips.tags]))
    assert len(picked.labels) == 3 and not picked.labels.any()


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_real_windows_get_their_share_of_the_weight(fraction: float) -> None:
    synthetic = _clipset(100, True, "synth")
    real = [_clipset(7, False, "nuaa"), _clipset(3, True, "replay")]
    train, weights = training_weights([synthetic, *real], fraction)
    assert len(train.labels) == 110 and weights.mean() == pytest.approx(1.0)
    assert weights[100:].sum() / weights.sum() == pytest.approx(fraction)
    assert train.tags[:100] == ["synth"] * 100 and train.tags[100:] == ["nuaa"] * 7 + ["replay"] * 3


def test_folds_keep_each_person_on_one_side() -> None:
    def track(subject: str, label: str, i: int) -> Track:
        return Track(
            f"nuaa/{label}/{subject}_{i}",
            label,
            "none",
            subject,
            np.zeros((1, 68, 2), np.float32),
            np.ones(1, bool),
            np.zeros(1, np.int64),
        )

    tracks = [track(f"000{s}", lab, i) for s in range(1, 10) for lab in ("live", "spoof") for i in range(2)]
    folds = track_folds(tracks, 3)
    assert len(folds) == 3
    held_subjects = [sorted({t.subject for t in held}) for _, held in folds]
    # liveness.data.samples.subject_folds deals sorted subjects round-robin: the split the other tests use.
    assert held_subjects == [["0001", "0004", "0007"], ["0002", "0005", "0008"], ["0003", "0006", "0009"]]
    for train, held in folds:
        assert not {t.subject for t in train} & {t.subject for t in held}
        assert len(train) + len(held) == len(tracks)
