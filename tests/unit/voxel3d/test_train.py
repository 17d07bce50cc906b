"""Training helpers that need no TensorFlow: the reference face derivation and the ISO rates."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.voxel3d.conftest import synthetic_reference
from voxel3d import geometry, synth
from voxel3d.features import MIRROR_68
from voxel3d.tracks import Track
from voxel3d.train import _rates, derive_reference


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
