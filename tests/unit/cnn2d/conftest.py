"""Fixtures for cnn2d: a few-node ONNX stand-in for the network, so serving tests need no TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cnn2d.model import CROP_SIZE, INPUT_NAME, SCALES, Cnn2dModel, Cnn2dSettings

BRIGHTNESS_GAIN = 0.1


@pytest.fixture(scope="session")
def brightness_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX model with the real input/output contract whose P(live) is sigmoid(0.2 (mean pixel - 128)).

    Scores follow what is inside the crops, so tests can tell which pixels the model was shown.
    """
    n = len(SCALES)
    x = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", n, CROP_SIZE, CROP_SIZE, 3])
    y = helper.make_tensor_value_info("live", TensorProto.FLOAT, ["batch", 2])
    inits = [
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([[-BRIGHTNESS_GAIN, BRIGHTNESS_GAIN]], np.float32), "w"),
        numpy_helper.from_array(np.array([128 * BRIGHTNESS_GAIN, -128 * BRIGHTNESS_GAIN], np.float32), "b"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Reshape", [INPUT_NAME, "flat_shape"], ["flat"]),
        helper.make_node("ReduceMean", ["flat", "axis1"], ["mean"], keepdims=1),
        helper.make_node("MatMul", ["mean", "w"], ["mw"]),
        helper.make_node("Add", ["mw", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["live"], axis=-1),
    ]
    graph = helper.make_graph(nodes, "brightness", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    for key, value in {
        "version": "test-1",
        "scales": ",".join(map(str, SCALES)),
        "crop_size": str(CROP_SIZE),
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("cnn2d") / "brightness.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def brightness_model(brightness_onnx: Path) -> Cnn2dModel:
    return Cnn2dModel(Cnn2dSettings(model_path=brightness_onnx, max_frames=4))
