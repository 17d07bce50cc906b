"""Central-difference convolutions compute CDCN's formula, folded into one kernel (imports TF)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the train extra (tensorflow-cpu, tf2onnx) is not installed")

THETA = 0.7


def _x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2, 9, 9, 4)).astype(np.float32)


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_cdc_is_conv_minus_theta_centre_times_kernel_sum(stride: int) -> None:
    import keras

    from cnn2d.net import CDDepthwiseConv2D

    x = _x()
    cdc = CDDepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, theta=THETA)
    y = cdc(x).numpy()
    w = cdc.kernel.numpy()  # (3, 3, channels, 1)
    plain = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)
    plain.build(x.shape)
    plain.set_weights([w])
    centre = x[:, ::stride, ::stride]  # odd size: "same" padding puts output i at input i * stride
    expected = plain(x).numpy() - THETA * centre * w.sum(axis=(0, 1))[:, 0]
    np.testing.assert_allclose(y, expected, atol=1e-5)
    assert np.abs(y - plain(x).numpy()).max() > 1e-2  # the difference term is really there


def test_conv_cdc_is_conv_minus_theta_centre_times_kernel_sum() -> None:
    import keras

    from cnn2d.net import CDConv2D

    x = _x()
    cdc = CDConv2D(5, 3, padding="same", use_bias=False, theta=THETA)
    y = cdc(x).numpy()
    w = cdc.kernel.numpy()  # (3, 3, in, out)
    plain = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)
    plain.build(x.shape)
    plain.set_weights([w])
    expected = plain(x).numpy() - THETA * np.einsum("bhwc,co->bhwo", x, w.sum(axis=(0, 1)))
    np.testing.assert_allclose(y, expected, atol=1e-5)
