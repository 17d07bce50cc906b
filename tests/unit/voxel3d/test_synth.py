"""The realistic generator mode: correlated noise, sliding jaw contour, flexing paper; plain unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.voxel3d.conftest import synthetic_reference
from voxel3d import geometry, synth


def test_plain_mode_is_the_default_generator() -> None:
    ref = synthetic_reference()
    for kind in synth.KINDS:
        a = synth.synth_track(kind, ref, 12, np.random.default_rng(3))
        b = synth.synth_track(kind, ref, 12, np.random.default_rng(3), synth.SynthSettings.for_mode("plain"))
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="mode"):
        synth.SynthSettings.for_mode("fancy")


def test_realistic_noise_is_correlated_over_time_and_within_a_feature() -> None:
    settings = synth.SynthSettings(noise_ar=(0.9, 0.9), noise_shared=0.5)
    noise = synth.landmark_noise((400, 68, 2), 1.0, np.random.default_rng(0), settings)
    assert noise.std() == pytest.approx(1.0, rel=0.15)
    lag1 = np.corrcoef(noise[1:, :, 0].ravel(), noise[:-1, :, 0].ravel())[0, 1]
    assert lag1 == pytest.approx(0.9, abs=0.05)
    same_group = np.corrcoef(noise[:, 36, 0], noise[:, 40, 0])[0, 1]  # both eye points
    other_group = np.corrcoef(noise[:, 36, 0], noise[:, 50, 0])[0, 1]  # eye and mouth
    assert same_group > 0.3 > abs(other_group)
    plain = synth.landmark_noise((400, 68, 2), 1.0, np.random.default_rng(0), synth.SynthSettings())
    assert abs(np.corrcoef(plain[1:, :, 0].ravel(), plain[:-1, :, 0].ravel())[0, 1]) < 0.05


def test_jaw_contour_follows_only_part_of_the_rotation() -> None:
    face = (synthetic_reference() * 50.0).T
    rots = np.stack([synth.rotation(np.radians(a), 0.0, 0.0) for a in (-20.0, 0.0, 20.0)])
    obj = np.broadcast_to(face, (3, 68, 3))
    slid = synth.slide_jaw(obj, rots, 0.5)
    np.testing.assert_array_equal(slid[:, 17:], obj[:, 17:])  # only the jaw contour moves on the face
    # Seen by the camera, the jaw of the frame turned 20 degrees is turned by 10 from the mean pose.
    seen = slid[2, synth.JAW] @ rots[2].T
    centre = obj[2].mean(axis=0)
    expected = (face[synth.JAW] - centre) @ synth.rotation(np.radians(10.0), 0.0, 0.0).T + centre @ rots[2].T
    np.testing.assert_allclose(seen, expected, atol=1e-6)


def test_flexing_print_is_planar_without_flex_and_bends_with_it() -> None:
    flat = np.random.default_rng(1).uniform(-60, 60, size=(68, 2))
    rigid = synth.SynthSettings(flex_per_mm=(0.0, 0.0))
    sheet = synth.flexing_sheet(flat, "print", 10, np.random.default_rng(2), rigid)
    assert np.abs(sheet[..., 2]).max() < 1e-9
    flexing = synth.SynthSettings(flex_per_mm=(1 / 100, 1 / 100))
    bent = synth.flexing_sheet(flat, "print", 10, np.random.default_rng(2), flexing)
    depth_mm = bent[..., 2].max(axis=1) - bent[..., 2].min(axis=1)
    assert depth_mm.max() > 5.0 and np.ptp(depth_mm) > 1.0  # the bend changes over the clip


def test_realistic_tracks_keep_the_physics() -> None:
    """Realistic faces still show relief (3D shape recovered from motion) and realistic prints little."""
    ref = synthetic_reference()
    settings = synth.SynthSettings.for_mode("realistic")
    rng = np.random.default_rng(5)
    relief = {
        kind: np.median(
            [geometry.analyse(synth.synth_track(kind, ref, 16, rng, settings), ref).relief for _ in range(12)]
        )
        for kind in ("live", "print")
    }
    assert relief["live"] > 3.0 * relief["print"]
