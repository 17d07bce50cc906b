"""The Keras network exports to ONNX with a dynamic batch and matches Keras within 1e-4 (imports TF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from cnn2d.model import CROP_SIZE, INPUT_NAME, SCALES, Cnn2dModel, Cnn2dSettings

pytest.importorskip("tensorflow", reason="the train extra (tensorflow-cpu, tf2onnx) is not installed")
pytest.importorskip("tf2onnx", reason="the train extra (tensorflow-cpu, tf2onnx) is not installed")


def _perturbed_network(seed: int) -> object:
    """An untrained inference network whose BatchNorm statistics are moved off their identity
    initialisation, so the checks cover them too."""
    import keras

    from cnn2d.net import build

    keras.utils.set_random_seed(seed)
    _, infer = build(len(SCALES), CROP_SIZE, input_name=INPUT_NAME)
    rng = np.random.default_rng(seed)
    for layer in infer.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    gamma * rng.uniform(0.5, 1.5, gamma.shape),
                    beta + rng.normal(0, 0.1, beta.shape),
                    mean + rng.normal(0, 0.1, mean.shape),
                    var * rng.uniform(0.5, 2.0, var.shape),
                ]
            )
    return infer


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, dict[str, object]]:
    from cnn2d.train import export_onnx

    infer = _perturbed_network(3)
    rng = np.random.default_rng(0)
    probe = rng.integers(0, 256, (4, len(SCALES), CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("cnn2d_onnx") / "cnn2d.onnx"
    report = export_onnx(infer, path, probe)
    return infer, path, report


def test_parity_within_tolerance(exported: tuple[object, Path, dict[str, object]]) -> None:
    model, path, report = exported
    assert float(report["max_abs_diff"]) <= 1e-4  # type: ignore[arg-type]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch in (1, 5):  # the batch axis is dynamic
        x = rng.uniform(0, 255, (batch, len(SCALES), CROP_SIZE, CROP_SIZE, 3)).astype(np.float32)
        onnx_out = session.run(None, {INPUT_NAME: x})[0]
        keras_out = model(x, training=False).numpy()  # type: ignore[operator]
        assert onnx_out.shape == (batch, 2)
        np.testing.assert_allclose(onnx_out, keras_out, atol=1e-4)
        np.testing.assert_allclose(onnx_out.sum(axis=1), 1.0, atol=1e-5)


def test_metadata_drives_serving(exported: tuple[object, Path, dict[str, object]]) -> None:
    _, path, report = exported
    meta = (
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        .get_modelmeta()
        .custom_metadata_map
    )
    assert meta["scales"] == ",".join(map(str, SCALES)) and meta["crop_size"] == str(CROP_SIZE)
    assert meta["colour_order"] == "RGB"
    model = Cnn2dModel(Cnn2dSettings(model_path=path))
    assert model.info.version.startswith(meta["version"])
    model.warmup()


def test_seed_ensemble_is_the_mean_of_its_members_and_exports(tmp_path: Path) -> None:
    from cnn2d.net import average
    from cnn2d.train import export_onnx

    members = [_perturbed_network(4), _perturbed_network(5)]
    x = np.random.default_rng(2).uniform(0, 255, (3, len(SCALES), CROP_SIZE, CROP_SIZE, 3)).astype(np.float32)
    each = [m(x, training=False).numpy() for m in members]  # type: ignore[operator]
    assert np.abs(each[0] - each[1]).max() > 1e-3  # the members differ, so the mean is a real check
    ensemble = average(members, input_name=INPUT_NAME, mirror=False)  # type: ignore[arg-type]
    report = export_onnx(ensemble, tmp_path / "cnn2d.onnx", x.astype(np.uint8))
    assert float(report["max_abs_diff"]) <= 1e-4
    assert report["metadata"]["mirror_average"] == "false"  # type: ignore[index]
    onnx_out = ort.InferenceSession(str(tmp_path / "cnn2d.onnx")).run(None, {INPUT_NAME: x})[0]
    np.testing.assert_allclose(onnx_out, (each[0] + each[1]) / 2.0, atol=1e-4)


def test_mirror_average_scores_a_face_and_its_mirror_image_alike(tmp_path: Path) -> None:
    import keras

    from cnn2d.net import average
    from cnn2d.train import export_onnx

    # An untrained network answers nearly the same for any input, so the second member is a linear
    # read-out of every pixel, whose answer changes when the image is mirrored.
    shape = (len(SCALES), CROP_SIZE, CROP_SIZE, 3)
    init = keras.initializers.RandomNormal(stddev=2e-5, seed=6)
    readout = keras.layers.Dense(2, "softmax", kernel_initializer=init)
    linear = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), readout])
    members = [_perturbed_network(4), linear]
    x = np.random.default_rng(3).uniform(0, 255, (3, *shape)).astype(np.float32)
    mirrored = np.ascontiguousarray(x[:, :, :, ::-1])  # (batch, scales, height, width, channels)
    each = [m(v, training=False).numpy() for m in members for v in (x, mirrored)]  # type: ignore[operator]
    assert np.abs(each[2] - each[3]).max() > 1e-2  # one member alone tells a face from its mirror image
    ensemble = average(members, input_name=INPUT_NAME)  # type: ignore[arg-type]  # mirror is the default
    report = export_onnx(ensemble, tmp_path / "cnn2d.onnx", x.astype(np.uint8))
    assert float(report["max_abs_diff"]) <= 1e-4
    assert report["metadata"]["mirror_average"] == "true"  # type: ignore[index]
    session = ort.InferenceSession(str(tmp_path / "cnn2d.onnx"))
    onnx_out = session.run(None, {INPUT_NAME: x})[0]
    np.testing.assert_allclose(onnx_out, np.mean(each, axis=0), atol=1e-4)
    np.testing.assert_allclose(session.run(None, {INPUT_NAME: mirrored})[0], onnx_out, atol=1e-5)
