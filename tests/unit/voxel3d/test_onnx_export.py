"""The Conv3D net exports to ONNX with a dynamic batch and matches Keras; the shipped artifact is served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from voxel3d import geometry
from voxel3d.model import MODEL_FILE

MODELS = Path(__file__).resolve().parents[3] / "services" / "voxel3d" / "models"


@pytest.fixture(scope="module")
def train_module():  # noqa: ANN201 - the module object
    pytest.importorskip("tensorflow", reason="ONNX parity needs the train extra (tensorflow, tf2onnx)")
    pytest.importorskip("tf2onnx", reason="ONNX parity needs the train extra (tensorflow, tf2onnx)")
    import keras

    from voxel3d import train

    keras.utils.set_random_seed(0)
    return train


def test_conv3d_net_matches_keras_with_a_dynamic_batch(train_module, tmp_path: Path) -> None:  # noqa: ANN001
    from liveness.training import export_onnx

    net = train_module.build_network(geometry.N_FEATURES)
    path = tmp_path / "voxel3d.onnx"
    rng = np.random.default_rng(0)
    probe = [
        (rng.random((4, 32, 32, 32, 1)) < 0.05).astype(np.float32),
        rng.normal(size=(4, geometry.N_FEATURES)).astype(np.float32),
    ]
    report = export_onnx(net, path, {"version": "test"}, probe, output_names=["p_live"])
    assert report["max_abs_diff"] < 1e-4
    model = onnx.load(str(path))
    assert "Conv" in {n.op_type for n in model.graph.node}
    assert {p.key: p.value for p in model.metadata_props}["version"] == "test"
    assert [o.name for o in model.graph.output] == ["p_live"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        voxels = (rng.random((batch, 32, 32, 32, 1)) < 0.05).astype(np.float32)
        feats = rng.normal(size=(batch, geometry.N_FEATURES)).astype(np.float32)
        got = sess.run(None, {"voxels": voxels, "features": feats})[0]
        want = net.predict([voxels, feats], verbose=0)
        assert got.shape == (batch, 1)
        assert np.max(np.abs(got - want)) < 1e-4


def test_shipped_artifact_is_small_and_described() -> None:
    path = MODELS / MODEL_FILE
    if not path.exists():
        pytest.skip("voxel3d not trained yet: run `liveness train voxel3d`")
    assert path.stat().st_size < 10 * 1024 * 1024
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["version"] and "occupancy" in meta["input_voxels"] and "P(live)" == meta["output"]
