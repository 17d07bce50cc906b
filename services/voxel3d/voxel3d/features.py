"""The model's inputs from one landmark track: a 32^3 occupancy grid and the analytic feature vector.

Shared by training and serving so both see exactly the same preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voxel3d import geometry

SUBDIVISIONS = 6  # samples per triangle edge: denser than the voxel pitch, so the mesh has no holes
MIRROR_68 = np.array(
    list(range(16, -1, -1))
    + list(range(26, 21, -1))
    + list(range(21, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)
"""dlib 68-point index of each landmark's mirror image (left eye corner <-> right eye corner ...)."""


@dataclass(frozen=True, slots=True)
class FaceMesh:
    """The reference face (3, 68) in canonical units, its triangulation and the dense sampling weights."""

    reference: npt.NDArray[np.float64]
    triangles: npt.NDArray[np.int32]
    barycentric: npt.NDArray[np.float64]

    @classmethod
    def build(cls, reference: npt.ArrayLike, triangles: npt.ArrayLike) -> FaceMesh:
        ref = np.asarray(reference, dtype=np.float64)
        tri = np.asarray(triangles, dtype=np.int32)
        return cls(ref, tri, geometry.barycentric_matrix(tri, ref.shape[1], SUBDIVISIONS))


@dataclass(frozen=True, slots=True)
class ClipInputs:
    """Model inputs for one clip: voxels float32 (32, 32, 32), raw features float32 (N_FEATURES,)."""

    voxels: npt.NDArray[np.float32]
    features: npt.NDArray[np.float32]
    structure: geometry.Structure


def clip_inputs(points: npt.ArrayLike, mesh: FaceMesh) -> ClipInputs:
    """Factorise a (F, 68, 2) track, put the shape in the reference frame and voxelise its surface."""
    structure = geometry.analyse(points, mesh.reference)
    voxels = geometry.voxelise(geometry.surface_samples(structure.shape, mesh.barycentric))
    return ClipInputs(voxels=voxels, features=structure.features, structure=structure)
