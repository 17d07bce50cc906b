"""liveness.training: one Keras -> ONNX export with its parity check, digests, seeds (imports TensorFlow)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from liveness import training
from liveness.errors import LivenessError, ParityError


@pytest.fixture()
def onnx() -> Any:
    """The onnx module; skips where the train extra (tensorflow-cpu, tf2onnx, onnx) is not installed."""
    for name in ("tensorflow", "tf2onnx"):
        pytest.importorskip(name, reason="the train extra (tensorflow-cpu, tf2onnx, onnx) is not installed")
    return pytest.importorskip(
        "onnx", reason="the train extra (tensorflow-cpu, tf2onnx, onnx) is not installed"
    )


def _two_input_net() -> object:
    import keras

    training.seed_everything(3)
    a = keras.Input((4, 4, 1), name="grid")
    b = keras.Input((3,), name="extra")
    x = keras.layers.Concatenate()([keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(a)), b])
    return keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid", name="p")(x))


def _probe(batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((batch, 4, 4, 1), dtype=np.float32), rng.normal(size=(batch, 3)).astype(np.float32)]


def test_export_writes_metadata_a_dynamic_batch_and_reports_parity(tmp_path: Path, onnx: Any) -> None:
    net = _two_input_net()
    path = tmp_path / "sub" / "net.onnx"
    report = training.export_onnx(net, path, {"version": "7"}, _probe(2, 0), output_names=["p_live"])
    assert report["opset"] == training.OPSET == 17
    assert report["parity_tolerance"] == training.PARITY_TOLERANCE
    assert 0.0 <= report["max_abs_diff"] <= training.PARITY_TOLERANCE
    assert report["metadata"] == {"version": "7"}
    model = onnx.load(str(path))
    assert {p.key: p.value for p in model.metadata_props} == {"version": "7"}
    assert [o.name for o in model.graph.output] == ["p_live"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["grid", "extra"]
    for batch in (1, 5):
        grid, extra = _probe(batch, batch)
        got = session.run(None, {"grid": grid, "extra": extra})[0]
        np.testing.assert_allclose(got, np.asarray(net([grid, extra], training=False)), atol=1e-5)  # type: ignore[operator]


def test_a_parity_failure_raises_the_projects_error_and_removes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, onnx: Any
) -> None:
    monkeypatch.setattr(training, "PARITY_TOLERANCE", -1.0)  # no difference passes
    path = tmp_path / "net.onnx"
    with pytest.raises(ParityError, match=r"net.onnx: max \|keras - onnx\|") as caught:
        training.export_onnx(_two_input_net(), path, {}, _probe(2, 0))
    assert isinstance(caught.value, LivenessError) and not path.exists()


def test_a_probe_must_feed_every_input(tmp_path: Path, onnx: Any) -> None:
    with pytest.raises(ValueError, match="2 inputs, the probe 1"):
        training.export_onnx(_two_input_net(), tmp_path / "net.onnx", {}, _probe(2, 0)[0])


def test_digests_name_size_and_sha256(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.npz"
    a.write_bytes(b"abc")
    b.write_bytes(b"")
    assert training.digests(a, b) == {
        "a.bin": {"bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()},
        "b.npz": {"bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()},
    }


def test_seeding_repeats_initial_weights(onnx: Any) -> None:
    first = [w.copy() for w in _two_input_net().get_weights()]  # type: ignore[attr-defined]
    again = _two_input_net().get_weights()  # type: ignore[attr-defined]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_importing_the_helpers_does_not_import_tensorflow() -> None:
    """The serving images have no TensorFlow: importing liveness.training must not need it."""
    code = "import sys, liveness.training; assert not {'tensorflow', 'keras'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


_ISA_PROBE = """
import os, sys
from click.testing import CliRunner
from liveness.cli import main
result = CliRunner().invoke(main, ["train", "cnn2d", "--help"])
assert result.exit_code == 0, result.output
assert "keras" in sys.modules  # the recipe's module imported Keras, and so TensorFlow
import tensorflow as tf
tf.nn.conv2d(tf.ones((1, 8, 8, 3)), tf.ones((3, 3, 3, 4)), 1, "SAME")  # oneDNN logs its ISA on first use
"""


@pytest.mark.parametrize(("preset", "isa"), [(None, "isa:Intel AVX2"), ("SSE41", "isa:Intel SSE4.1")])
def test_liveness_train_holds_onednn_to_one_isa_before_a_recipe_imports_tensorflow(
    onnx: Any, preset: str | None, isa: str
) -> None:
    """oneDNN's kernels follow the CPU, so `liveness train` holds them to AVX2 before TensorFlow is imported
    (oneDNN reads the cap once); a value already in the environment is kept."""
    env = {k: v for k, v in os.environ.items() if k != training.ISA_ENV}
    env["ONEDNN_VERBOSE"] = "1"
    if preset is not None:
        env[training.ISA_ENV] = preset
    out = subprocess.run(
        [sys.executable, "-c", _ISA_PROBE], env=env, check=True, capture_output=True, text=True
    )
    found = [line.split(",")[-1] for line in out.stdout.splitlines() if ",info,cpu,isa:" in line]
    assert found and found[0] == isa


@pytest.mark.parametrize(("set_first", "warned"), [(True, False), (False, True)])
def test_a_late_training_environment_is_named(onnx: Any, set_first: bool, warned: bool) -> None:
    """Set before TensorFlow's import (as `liveness train` does), nothing to say; after it, a warning."""
    code = (
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "from liveness import training\n"
        + ("training.reproducible_environment()\n" if set_first else "")
        + "import tensorflow\ntraining.tensorflow(1)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != training.ISA_ENV}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert ("imported before the training environment" in out.stderr) is warned


def test_threads_are_checked() -> None:
    with pytest.raises(ValueError, match="threads"):
        training.tensorflow(0)
