"""Both networks export to ONNX with a dynamic batch and match Keras; shipped artifacts carry metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from temporal.expression import EXPRESSIONS, INPUT_SIZE, ExpressionClassifier
from temporal.sequence import CROP_SIZE, SEQ_LEN, SequenceClassifier

MODELS = Path(__file__).resolve().parents[3] / "services" / "temporal" / "models"


@pytest.fixture(scope="module")
def train_module():  # noqa: ANN201 - the module object
    pytest.importorskip("tensorflow", reason="ONNX parity needs the train extra (tensorflow, tf2onnx)")
    pytest.importorskip("tf2onnx", reason="ONNX parity needs the train extra (tensorflow, tf2onnx)")
    from liveness import training
    from temporal import train

    training.seed_everything(0)
    return train


def test_sequence_net_exports_an_lstm_and_matches_keras(train_module, tmp_path: Path) -> None:  # noqa: ANN001
    model = train_module.build_sequence_net()
    path = tmp_path / "sequence.onnx"
    batch = np.random.default_rng(0).random((3, SEQ_LEN, CROP_SIZE, CROP_SIZE, 3), dtype=np.float32)
    report = train_module.export_onnx(model, path, {"version": "test"}, batch)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "LSTM" in ops
    assert report["max_abs_diff"] < 1e-4
    scores = SequenceClassifier(path).predict(batch)
    assert scores.shape == (3,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_expression_net_matches_keras(train_module, tmp_path: Path) -> None:  # noqa: ANN001
    model = train_module.build_expression_net(width=8)
    path = tmp_path / "expression.onnx"
    batch = np.random.default_rng(1).random((5, INPUT_SIZE, INPUT_SIZE, 1), dtype=np.float32)
    meta = {"version": "test", "classes": ",".join(EXPRESSIONS)}
    report = train_module.export_onnx(model, path, meta, batch)
    assert report["max_abs_diff"] < 1e-4
    probs = ExpressionClassifier(path).predict(batch)
    assert probs.shape == (5, len(EXPRESSIONS))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["sequence.onnx", "expression.onnx"])
def test_shipped_artifacts_carry_metadata(name: str) -> None:
    path = MODELS / name
    if not path.exists():
        pytest.skip(f"{name} not trained yet: run `liveness train temporal`")
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["version"]
    assert path.stat().st_size < 10 * 1024 * 1024
    if name == "sequence.onnx":
        assert "LSTM" in {n.op_type for n in model.graph.node}
        assert float(meta["crop_scale"]) == pytest.approx(1.8)
    else:
        assert meta["classes"] == ",".join(EXPRESSIONS)
