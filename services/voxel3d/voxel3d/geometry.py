"""3D structure of a face from its 68-landmark tracks: factorisation, planarity, pose range, voxel grid.

Why several frames: seed 001 reconstructed a 3D face from one image (VRN) and got 50 %, because a network
that has only ever seen faces draws a face's depth for a flat photo too. With several views, depth is
measured, not guessed: points on a plane move by one homography (rank 2 under an affine camera), points on a
face show parallax (rank 3). Tomasi and Kanade's factorisation (IJCV 1992) of the centred 2F x P measurement
matrix gives motion and shape up to an affine ambiguity; the metric upgrade (orthonormal camera rows) fixes
it up to a global reflection, which `canonical_shape` resolves against a reference face.

Everything here is numpy, float64 inside, cheap (well under 10 ms for 32 frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]

GRID_SIZE = 32
GRID_HALF_EXTENT = 1.6  # the grid spans [-1.6, 1.6]^3 in canonical units (a face's RMS radius is 1)
FEATURE_NAMES = (
    "log_sv3_over_sv2",
    "log_sv4_over_sv3",
    "log_homography_residual",
    "relief",
    "head_pose_range_deg_over_30",
    "rotation_range_deg_over_30",
    "procrustes_residual",
)
N_FEATURES = len(FEATURE_NAMES)


@dataclass(frozen=True, slots=True)
class Factorisation:
    """Result of affine factorisation of a track of F frames and P points.

    motion (2F, 3) and shape (3, P) after the metric upgrade; singular_values of the centred,
    scale-normalised measurement matrix (all of them, descending).
    """

    motion: Points
    shape: Points
    singular_values: Points


def measurement_matrix(points: npt.ArrayLike) -> Points:
    """The 2F x P matrix of (F, P, 2) image points, each row centred and the whole scaled to RMS 1.

    Centring removes each frame's translation (affine camera); one global scale keeps relative scale
    changes between frames, which the camera model absorbs.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 2 or p.shape[0] < 2 or p.shape[1] < 4:
        raise ValueError(f"need points of shape (F>=2, P>=4, 2), got {p.shape}")
    w = np.transpose(p, (0, 2, 1)).reshape(-1, p.shape[1])
    w = w - w.mean(axis=1, keepdims=True)
    rms = float(np.sqrt(np.mean(w**2)))
    if rms <= 0.0:
        raise ValueError("degenerate track: all points coincide")
    return w / rms


def _metric_constraint_rows(motion: Points) -> tuple[Points, Points]:
    """Rows g(a, b) with g(a, b) . l = a^T L b for L symmetric, l = (L11, L12, L13, L22, L23, L33)."""
    a = motion[0::2]
    b = motion[1::2]

    def g(u: Points, v: Points) -> Points:
        return np.stack(
            [
                u[:, 0] * v[:, 0],
                u[:, 0] * v[:, 1] + u[:, 1] * v[:, 0],
                u[:, 0] * v[:, 2] + u[:, 2] * v[:, 0],
                u[:, 1] * v[:, 1],
                u[:, 1] * v[:, 2] + u[:, 2] * v[:, 1],
                u[:, 2] * v[:, 2],
            ],
            axis=1,
        )

    return np.concatenate([g(a, a) - g(b, b), g(a, b)], axis=0), g(a, a) + g(b, b)


def metric_upgrade(motion: Points, shape: Points) -> tuple[Points, Points]:
    """Find Q so that each frame's two rows of motion @ Q are orthogonal and of equal norm.

    Solves for L = Q Q^T by least squares with the mean squared row norm fixed to 1 (scaled orthographic
    camera, per-frame scale free); L is projected onto the positive-definite cone before taking Q. The
    result keeps a reflection ambiguity (Q and Q diag(1, 1, -1) fit equally).
    """
    homogeneous, norms = _metric_constraint_rows(motion)
    c = norms.mean(axis=0)
    gram = homogeneous.T @ homogeneous
    gram += 1e-9 * np.trace(gram) * np.eye(6)
    x = np.linalg.solve(gram, c)
    l_vec = x / float(c @ x)
    big_l = np.array(
        [
            [l_vec[0], l_vec[1], l_vec[2]],
            [l_vec[1], l_vec[3], l_vec[4]],
            [l_vec[2], l_vec[4], l_vec[5]],
        ]
    )
    eigval, eigvec = np.linalg.eigh(big_l)
    eigval = np.maximum(eigval, 1e-6 * max(float(eigval.max()), 1e-12))
    q = eigvec * np.sqrt(eigval)
    return motion @ q, np.linalg.solve(q, shape)


def factorise(points: npt.ArrayLike) -> Factorisation:
    """Tomasi-Kanade factorisation of (F, P, 2) tracks, with the metric upgrade."""
    w = measurement_matrix(points)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    root = np.sqrt(s[:3])
    motion = u[:, :3] * root
    shape = root[:, None] * vt[:3]
    motion, shape = metric_upgrade(motion, shape)
    return Factorisation(motion=motion, shape=shape, singular_values=s)


def camera_aligned(fact: Factorisation, nose: int = 30, rim: tuple[int, ...] = (0, 16, 36, 45)) -> Points:
    """The shape (3, P) in the middle frame's camera axes, mirrored if needed so the nose faces the camera.

    Used to bootstrap a reference face from live tracks, before any reference exists (z grows away from the
    camera, so the nose tip must have a smaller z than the face's rim).
    """
    m = fact.motion[0::2]
    n = fact.motion[1::2]
    mid = len(m) // 2
    a = m[mid] / np.linalg.norm(m[mid])
    b = n[mid] - a * (a @ n[mid])
    b /= np.linalg.norm(b)
    shape = np.vstack([a, b, np.cross(a, b)]) @ fact.shape
    if shape[2, nose] > shape[2, list(rim)].mean():
        shape = np.diag([1.0, 1.0, -1.0]) @ shape
    return shape - shape.mean(axis=1, keepdims=True)


def plane_relief(shape: Points) -> float:
    """RMS distance of the 3D points from their best-fit plane over their RMS in-plane radius.

    About 0 for a flat print or screen, about 0.3 to 0.5 for a face (the nose and the jaw line stand out).
    """
    centred = shape - shape.mean(axis=1, keepdims=True)
    s = np.linalg.svd(centred, compute_uv=False)
    in_plane = float(np.sqrt((s[0] ** 2 + s[1] ** 2) / 2.0))
    return float(s[2] / in_plane) if in_plane > 0 else 0.0


def _normalise_2d(p: Points) -> tuple[Points, Points]:
    """Hartley normalisation of (F, P, 2) frames: centroid 0, mean distance sqrt(2) per frame."""
    centred = p - p.mean(axis=1, keepdims=True)
    dist = np.mean(np.linalg.norm(centred, axis=2), axis=1)
    k = np.where(dist > 0, np.sqrt(2.0) / np.where(dist > 0, dist, 1.0), 1.0)
    return centred * k[:, None, None], k


def homography_residual(points: npt.ArrayLike) -> float:
    """RMS distance (in face radii) between each frame's points and the best homography of the middle frame.

    A plane, whatever the camera, maps between views by a homography, so this stays at the landmark noise
    level for any print or screen moved rigidly; a face's parallax adds to it as the head turns. All frames
    are solved at once (DLT on Hartley-normalised points, batched SVD).
    """
    norm, _ = _normalise_2d(np.asarray(points, dtype=np.float64))
    n_frames, n_points = norm.shape[:2]
    ref = norm[n_frames // 2]
    x = np.broadcast_to(ref[:, 0], (n_frames, n_points))
    y = np.broadcast_to(ref[:, 1], (n_frames, n_points))
    u, v = norm[..., 0], norm[..., 1]
    zeros = np.zeros_like(u)
    ones = np.ones_like(u)
    a = np.concatenate(
        [
            np.stack([-x, -y, -ones, zeros, zeros, zeros, u * x, u * y, u], axis=2),
            np.stack([zeros, zeros, zeros, -x, -y, -ones, v * x, v * y, v], axis=2),
        ],
        axis=1,
    )
    # The null vector of A is the eigenvector of A^T A (9 x 9) with the smallest eigenvalue: far cheaper
    # than a full SVD of the 2P x 9 matrix, and well conditioned after Hartley normalisation.
    h = np.linalg.eigh(np.transpose(a, (0, 2, 1)) @ a)[1][:, :, 0].reshape(n_frames, 3, 3)
    ref_h = np.c_[ref, np.ones(n_points)]
    mapped = np.einsum("pk,fjk->fpj", ref_h, h)
    w = mapped[..., 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    resid = mapped[..., :2] / w - norm
    # Normalised units put the mean distance from the centroid at sqrt(2): divide to get face radii.
    return float(np.sqrt(np.mean(np.sum(resid**2, axis=2))) / np.sqrt(2.0))


def pose_rotations(points: npt.ArrayLike, reference: Points) -> Points:
    """Per-frame rotations (F, 3, 3) of `reference` (3, P) that best explain each frame (weak perspective)."""
    p = np.asarray(points, dtype=np.float64)
    ref = reference - reference.mean(axis=1, keepdims=True)
    pinv = np.linalg.pinv(ref)  # (P, 3)
    x = np.transpose(p - p.mean(axis=1, keepdims=True), (0, 2, 1))  # (F, 2, P)
    affine = x @ pinv  # (F, 2, 3)
    u, _, vt = np.linalg.svd(affine, full_matrices=False)
    r2 = u @ vt
    return np.concatenate([r2, np.cross(r2[:, 0], r2[:, 1])[:, None, :]], axis=1)


def pose_range_deg(points: npt.ArrayLike, reference: Points) -> float:
    """Largest out-of-plane angle (degrees) between any frame's viewing direction and the middle frame's.

    This is the head rotation the clip shows, measured by fitting the reference 3D face to each frame; for
    a print it is the apparent rotation of the printed face (its tilt). Roll about the optical axis does
    not count: it shows no new side of the face.
    """
    rot = pose_rotations(points, reference)
    axis = rot[:, 2, :]
    mid = axis[len(axis) // 2]
    cosines = np.clip(axis @ mid, -1.0, 1.0)
    return float(np.degrees(np.arccos(cosines).max()))


def rotation_range_deg(points: npt.ArrayLike) -> float:
    """Largest out-of-plane rotation (degrees) of the landmark set between the middle frame and any other.

    Measured the same way for any object, flat or not: the 2 x 2 part of the least-squares affine map from
    the middle frame to a frame has singular values s1 >= s2, and a sheet turned by theta out of the image
    plane is foreshortened by s2 / s1 = cos(theta). A head turning by theta foreshortens the landmark
    constellation about as much. In-plane motion (shift, roll, zoom) leaves s2 / s1 at 1 and counts nothing,
    rightly: it shows the camera no new side of the object.
    """
    p = np.asarray(points, dtype=np.float64)
    centred = p - p.mean(axis=1, keepdims=True)  # (F, P, 2)
    mid = centred[len(p) // 2]
    affine = np.transpose(centred, (0, 2, 1)) @ np.linalg.pinv(mid.T)  # (F, 2, 2): frame = A @ mid
    s = np.linalg.svd(affine, compute_uv=False)
    ratio = np.clip(s[:, 1] / np.maximum(s[:, 0], 1e-12), -1.0, 1.0)
    return float(np.degrees(np.arccos(ratio).max()))


def _procrustes(shape: Points, reference: Points) -> tuple[Points, float]:
    """Rotate and scale `shape` (3, P) onto `reference` (no reflection); returns it and the RMS residual."""
    s = shape - shape.mean(axis=1, keepdims=True)
    r = reference - reference.mean(axis=1, keepdims=True)
    u, sig, vt = np.linalg.svd(r @ s.T)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    norm = float(np.sum(s**2))
    scale = float(np.sum(sig * np.diag(fix)) / norm) if norm > 0 else 1.0
    aligned = scale * (rot @ s)
    rms = float(np.sqrt(np.mean(np.sum((aligned - r) ** 2, axis=0))))
    return aligned, rms


def canonical_shape(shape: Points, reference: Points) -> tuple[Points, float]:
    """`shape` in the reference face's frame and scale, reflection chosen to fit best; and the residual.

    The metric upgrade cannot tell a shape from its mirror image in depth; the reference face (nose towards
    the camera) decides. A flat shape stays flat whichever way it is turned.
    """
    candidates = [_procrustes(shape, reference), _procrustes(np.diag([1.0, 1.0, -1.0]) @ shape, reference)]
    return min(candidates, key=lambda c: c[1])


def surface_samples(shape: Points, barycentric: Points) -> Points:
    """Dense points (K, 3) on the landmark mesh: `barycentric` (K, P) holds each sample's vertex weights."""
    return barycentric @ shape.T


def barycentric_matrix(triangles: npt.NDArray[np.integer], n_points: int, subdivisions: int) -> Points:
    """Weights (K, n_points) placing `subdivisions`-level grid samples on each triangle of a mesh."""
    steps = [(i, j) for i in range(subdivisions + 1) for j in range(subdivisions + 1 - i)]
    rows = []
    for tri in np.asarray(triangles):
        for i, j in steps:
            w = np.zeros(n_points)
            k = subdivisions - i - j
            w[tri[0]] += i / subdivisions
            w[tri[1]] += j / subdivisions
            w[tri[2]] += k / subdivisions
            rows.append(w)
    return np.unique(np.array(rows), axis=0)


def voxelise(
    samples: Points, size: int = GRID_SIZE, half_extent: float = GRID_HALF_EXTENT
) -> npt.NDArray[np.float32]:
    """Occupancy grid float32 (size, size, size), axes (z, y, x): 1 where a sample falls, else 0.

    Samples are in canonical units (face RMS radius 1, centred); those outside the cube are dropped.
    """
    idx = np.floor((samples + half_extent) / (2.0 * half_extent) * size).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < size), axis=1)
    idx = idx[inside]
    grid = np.zeros((size, size, size), dtype=np.float32)
    grid[idx[:, 2], idx[:, 1], idx[:, 0]] = 1.0
    return grid


@dataclass(frozen=True, slots=True)
class Structure:
    """What one clip's geometry says: the canonical 3D shape (3, P), the analytic features, the motion.

    pose_range_deg is the head rotation seen by fitting the reference face; rotation_range_deg the
    out-of-plane rotation of the landmark set whatever its shape (see rotation_range_deg), used for gating.
    """

    shape: Points
    features: npt.NDArray[np.float32]
    relief: float
    pose_range_deg: float
    rotation_range_deg: float


def analyse(points: npt.ArrayLike, reference: Points) -> Structure:
    """Factorise a (F, P, 2) track and describe it (see FEATURE_NAMES); reference is the mean face (3, P)."""
    p = np.asarray(points, dtype=np.float64)
    fact = factorise(p)
    sv = fact.singular_values
    eps = 1e-9
    canon, resid = canonical_shape(fact.shape, reference)
    ref_c = reference - reference.mean(axis=1, keepdims=True)
    radius = float(np.sqrt(np.mean(np.sum(ref_c**2, axis=0))))
    canon = canon / radius
    relief = plane_relief(fact.shape)
    rng = pose_range_deg(p, reference)
    rot = rotation_range_deg(p)
    features = np.array(
        [
            np.log(sv[2] / (sv[1] + eps) + eps),
            np.log(sv[3] / (sv[2] + eps) + eps) if len(sv) > 3 else 0.0,
            np.log(homography_residual(p) + 1e-6),
            relief,
            rng / 30.0,
            rot / 30.0,
            resid / radius,
        ],
        dtype=np.float32,
    )
    return Structure(
        shape=canon, features=features, relief=relief, pose_range_deg=rng, rotation_range_deg=rot
    )
