"""Fixtures for the temporal test: tiny ONNX stand-ins for both networks and a clip of real landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from liveness.types import Box, Face, FaceObservation, Media
from liveness.vision import face as facelib
from temporal.expression import INPUT_SIZE
from temporal.sequence import CROP_SIZE, SEQ_LEN


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str]) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_sequence_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(n, 8, 64, 64, 3) -> (n,) mean pixel value: a bright clip scores high, a black one 0."""
    x = helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["n", SEQ_LEN, CROP_SIZE, CROP_SIZE, 3])
    y = helper.make_tensor_value_info("live", TensorProto.FLOAT, ["n"])
    node = helper.make_node("ReduceMean", ["frames"], ["live"], axes=[1, 2, 3, 4], keepdims=0)
    graph = helper.make_graph([node], "tiny_sequence", [x], [y])
    return _save(graph, tmp_path_factory.mktemp("onnx") / "sequence.onnx", {"version": "tiny-seq"})


@pytest.fixture(scope="session")
def tiny_expression_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(n, 48, 48, 1) -> softmax over (neutral, happy, surprise) driven by mean brightness: bright = happy."""
    x = helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["n", INPUT_SIZE, INPUT_SIZE, 1])
    y = helper.make_tensor_value_info("expression", TensorProto.FLOAT, ["n", 3])
    weights = np.zeros((INPUT_SIZE * INPUT_SIZE, 3), np.float32)
    weights[:, 1] = 10.0 / (INPUT_SIZE * INPUT_SIZE)
    bias = np.array([3.0, 0.0, 0.0], np.float32)
    nodes = [
        helper.make_node("Flatten", ["faces"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["expression"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_expression",
        [x],
        [y],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    meta = {"version": "tiny-expr", "classes": "neutral,happy,surprise"}
    return _save(graph, tmp_path_factory.mktemp("onnx") / "expression.onnx", meta)


@pytest.fixture(scope="session")
def astronaut_face(astronaut: np.ndarray) -> Face:
    obs = facelib.observe(astronaut)
    assert obs.face is not None and obs.face.landmarks is not None
    return obs.face


def shifted_clip(
    image: np.ndarray, face: Face, n: int, step_px: int = 2
) -> tuple[Media, list[FaceObservation]]:
    """`n` frames of `image` moved right by step_px per frame, with the face moved along (no detection)."""
    frames, observations = [], []
    for i in range(n):
        dx = i * step_px
        frames.append(np.ascontiguousarray(np.roll(image, dx, axis=1)))
        b = face.box
        assert face.landmarks is not None
        moved = Face(Box(b.left + dx, b.top, b.right + dx, b.bottom), face.landmarks + np.float32([dx, 0]))
        observations.append(FaceObservation(frame_index=i, count=1, face=moved))
    return Media(tuple(frames), tuple(100 * i for i in range(n)), is_clip=True), observations
