"""Hermetic voxel3d artifacts: a geometry file from a synthetic face and a tiny ONNX graph (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from scipy.spatial import Delaunay

from liveness.types import Box, Face, FaceObservation, Media
from voxel3d import geometry
from voxel3d.features import FaceMesh
from voxel3d.model import GeometryArtifact


def synthetic_reference() -> np.ndarray:
    """A face-like 3D point set (3, 68): an ellipse of points on a dome, RMS radius 1, nose forward."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(-1.0, 1.0, size=(2, 68)) * np.array([[0.8], [1.0]])
    z = -0.6 * (1.0 - np.clip(xy[0] ** 2 / 0.64 + xy[1] ** 2, 0.0, 1.0))
    ref = np.vstack([xy, z])
    ref -= ref.mean(axis=1, keepdims=True)
    return ref / np.sqrt(np.mean(np.sum(ref**2, axis=0)))


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    return synthetic_reference()


@pytest.fixture(scope="session")
def geometry_npz(tmp_path_factory: pytest.TempPathFactory, reference: np.ndarray) -> Path:
    """A geometry file whose planarity fallback calls a clip live when its relief (feature 3) is large."""
    path = tmp_path_factory.mktemp("voxel3d") / "geometry.npz"
    coef = np.zeros(geometry.N_FEATURES)
    coef[3] = 10.0
    GeometryArtifact(
        mesh=FaceMesh.build(reference, np.asarray(Delaunay(reference[:2].T).simplices, dtype=np.int32)),
        feature_mean=np.zeros(geometry.N_FEATURES, np.float32),
        feature_std=np.ones(geometry.N_FEATURES, np.float32),
        planarity_coef=coef,
        planarity_intercept=-1.0,
        min_pose_deg=4.0,
        min_rotation_deg=25.0,
        version="test",
    ).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """P(live) = sigmoid(mean occupancy + 10 * features[3] - 1): the real net's inputs and output."""
    w = np.zeros((geometry.N_FEATURES, 1), np.float32)
    w[3, 0] = 10.0
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["voxels"], ["occ"], axes=[1, 2, 3, 4], keepdims=0),
            helper.make_node("Unsqueeze", ["occ", "one_axis"], ["occ1"]),
            helper.make_node("MatMul", ["features", "w"], ["lin"]),
            helper.make_node("Add", ["lin", "occ1"], ["s1"]),
            helper.make_node("Add", ["s1", "bias"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["p_live"]),
        ],
        "tiny_voxel3d",
        [
            helper.make_tensor_value_info("voxels", TensorProto.FLOAT, ["N", 32, 32, 32, 1]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", geometry.N_FEATURES]),
        ],
        [helper.make_tensor_value_info("p_live", TensorProto.FLOAT, ["N", 1])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("bias", TensorProto.FLOAT, [1], [-1.0]),
            helper.make_tensor("one_axis", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("voxel3d") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def clip_of(points: np.ndarray, missing: tuple[int, ...] = ()) -> tuple[Media, list[FaceObservation]]:
    """A clip of blank frames with the given landmarks (F, 68, 2) as each frame's face observation."""
    frames = tuple(np.zeros((480, 640, 3), np.uint8) for _ in points)
    media = Media(frames=frames, timestamps_ms=tuple(66 * i for i in range(len(points))), is_clip=True)
    faces = []
    for i, p in enumerate(points):
        if i in missing:
            faces.append(FaceObservation(frame_index=i, count=0, face=None))
            continue
        lo, hi = p.min(axis=0), p.max(axis=0)
        box = Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        faces.append(
            FaceObservation(frame_index=i, count=1, face=Face(box=box, landmarks=p.astype(np.float32)))
        )
    return media, faces
