"""Factorisation, planarity, pose range and voxelisation on synthetic point sets with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from voxel3d import geometry, synth


def _views(
    shape: np.ndarray, angles_deg: list[tuple[float, float, float]], noise_px: float = 0.0
) -> np.ndarray:
    """Orthographic views (F, P, 2) of `shape` (3, P), each shifted and scaled differently."""
    rng = np.random.default_rng(1)
    views = []
    for i, (y, p, r) in enumerate(angles_deg):
        rot = synth.rotation(*np.radians([y, p, r]))
        image = (1.0 + 0.05 * i) * (rot @ shape)[:2].T + rng.normal(size=2) * 40.0
        views.append(image + rng.normal(scale=noise_px, size=image.shape))
    return np.stack(views)


ANGLES = [(20 * np.sin(i), 12 * np.cos(1.3 * i), 5.0 * i) for i in range(10)]


@pytest.fixture(scope="module")
def solid() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 68)) * np.array([[1.0], [1.3], [0.6]])


def test_factorisation_recovers_shape_up_to_an_affine_map(solid: np.ndarray) -> None:
    fact = geometry.factorise(_views(solid, ANGLES))
    centred = solid - solid.mean(axis=1, keepdims=True)
    affine, *_ = np.linalg.lstsq(fact.shape.T, centred.T, rcond=None)
    assert np.abs(fact.shape.T @ affine - centred.T).max() < 1e-8
    assert fact.singular_values[3] < 1e-8 * fact.singular_values[0]  # exactly rank 3 without noise


def test_metric_upgrade_leaves_only_rotation_scale_and_reflection(solid: np.ndarray) -> None:
    fact = geometry.factorise(_views(solid, ANGLES))
    _, residual = geometry.canonical_shape(fact.shape, solid)
    assert residual < 1e-6
    m, n = fact.motion[0::2], fact.motion[1::2]
    np.testing.assert_allclose(np.sum(m * n, axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), np.linalg.norm(n, axis=1), rtol=1e-6)


def test_plane_has_no_relief_and_a_solid_has(solid: np.ndarray) -> None:
    flat = solid.copy()
    flat[2] = 0.0
    assert geometry.plane_relief(geometry.factorise(_views(flat, ANGLES, 0.01)).shape) < 0.05
    assert geometry.plane_relief(geometry.factorise(_views(solid, ANGLES, 0.01)).shape) > 0.3


def test_planar_point_set_scores_as_planar_under_perspective(solid: np.ndarray) -> None:
    """A perspective-projected flat print keeps a homography residual at the noise level; a face does not."""
    rng = np.random.default_rng(3)
    face = np.c_[solid.T * 30.0]
    flat = face.copy()
    flat[:, 2] = 0.0
    rots = synth.motion_path(rng, 16, 20.0)
    planar = synth.project(flat, rots, 400.0, 900.0, rng)
    solid_img = synth.project(face, rots, 400.0, 900.0, rng)
    assert geometry.homography_residual(planar) < 1e-6
    assert geometry.homography_residual(solid_img) > 100 * geometry.homography_residual(planar)
    f_planar = geometry.factorise(planar).singular_values
    f_solid = geometry.factorise(solid_img).singular_values
    assert f_planar[2] / f_planar[1] < 0.5 * f_solid[2] / f_solid[1]  # perspective adds a little rank


def test_pose_range_measures_out_of_plane_rotation(solid: np.ndarray) -> None:
    turn = _views(solid, [(0.0, 0.0, 0.0), (10.0, 0.0, 0.0), (25.0, 0.0, 0.0)])
    assert geometry.pose_range_deg(turn, solid) == pytest.approx(15.0, abs=1e-6)
    roll_only = _views(solid, [(0.0, 0.0, r) for r in (0.0, 20.0, 40.0)])
    # arccos is ill-conditioned at 1: a cosine a few ulp below 1 (rounding that varies with the CPU's SIMD
    # path and the BLAS build) is already ~1e-6 deg. 1e-4 deg allows cosines off by ~1e-12 and is still
    # 200,000 times below the 20 deg roll steps this checks are not counted.
    assert geometry.pose_range_deg(roll_only, solid) < 1e-4


def test_voxel_grid_shape_and_occupancy() -> None:
    samples = np.array([[0.0, 0.0, 0.0], [1.5, -1.5, 0.5], [5.0, 0.0, 0.0]])
    grid = geometry.voxelise(samples)
    assert grid.shape == (32, 32, 32) and grid.dtype == np.float32
    assert grid.sum() == 2  # the third point lies outside the cube
    assert grid[16, 16, 16] == 1.0  # axes are (z, y, x)
    assert grid[int((0.5 + 1.6) / 3.2 * 32), int((-1.5 + 1.6) / 3.2 * 32), int((1.5 + 1.6) / 3.2 * 32)] == 1.0


def test_flat_surface_fills_one_depth_slab_and_a_face_several() -> None:
    tri = np.array([[0, 1, 2], [0, 2, 3]])
    square = np.array([[-1.0, 1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    bary = geometry.barycentric_matrix(tri, 4, 32)
    flat = geometry.voxelise(geometry.surface_samples(square, bary))
    assert np.count_nonzero(flat.sum(axis=(1, 2))) == 1  # one z slab
    assert flat.sum() >= 19 * 19  # the mesh is sampled densely enough to leave no holes
    tent = square.copy()
    tent[2] = [0.0, 1.0, 0.0, 1.0]
    assert np.count_nonzero(geometry.voxelise(geometry.surface_samples(tent, bary)).sum(axis=(1, 2))) >= 8


def test_bad_tracks_are_rejected() -> None:
    with pytest.raises(ValueError):
        geometry.measurement_matrix(np.zeros((1, 68, 2)))
    with pytest.raises(ValueError):
        geometry.measurement_matrix(np.ones((5, 68, 2)))
