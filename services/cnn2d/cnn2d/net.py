"""The multi-scale network (Keras functional API; imported only by train.py, serving runs the ONNX export).

Per scale one small CNN stream (MiniFASNet-like: a stride-2 stem, depthwise-separable blocks with residuals,
a global depthwise conv instead of pooling so the feature keeps where on the crop things are); the per-scale
features form a sequence that an LSTM reads to emit one fusion weight per scale (MS-FANS, seed 003); the
weighted sum goes through seed 001's head (Dense, BatchNorm, LeakyReLU 0.3, dropout 0.3, 2-way softmax).
Each stream also has its own softmax for the auxiliary per-scale loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import keras
import numpy as np
from keras import layers

FEATURE_DIM = 128


@dataclass(frozen=True, slots=True)
class NetSettings:
    """Width of the streams; (channels, stride) per depthwise-separable block after the stem."""

    stem: int = 16
    blocks: tuple[tuple[int, int], ...] = ((32, 1), (48, 2), (48, 1), (64, 2), (64, 1), (96, 2), (96, 1))
    feature_dim: int = FEATURE_DIM
    lstm_units: int = 32
    head_units: int = 64
    dropout: float = 0.3
    weight_decay: float = 5e-4
    cdc_theta: float = 0.0
    """Central-difference weight of every 3x3 conv (CDCN): 0 = plain convolution, 0.7 = CDCN's choice."""


def _central_difference(kernel: keras.KerasTensor, theta: float) -> keras.KerasTensor:
    """The kernel of a central-difference convolution (CDCN, Yu et al. 2020).

    CDC(x) = conv(x, w) - theta * x_centre * sum(w): it mixes plain convolution with one on differences to
    the centre pixel, which answers to fine texture (print dots, screen grids) rather than to overall
    intensity. The second term is a 1x1 convolution at the centre, so it folds into one kernel,
    w - theta * sum(w) at the centre tap; the exported graph stays a plain convolution.
    """
    kh, kw = int(kernel.shape[0]), int(kernel.shape[1])
    centre = np.zeros((kh, kw, 1, 1), np.float32)
    centre[kh // 2, kw // 2] = 1.0
    total = keras.ops.sum(kernel, axis=(0, 1), keepdims=True)
    return kernel - theta * total * keras.ops.convert_to_tensor(centre)


class CDConv2D(layers.Conv2D):  # type: ignore[misc]
    """Conv2D with a central-difference kernel (see _central_difference)."""

    def __init__(self, *args: Any, theta: float = 0.7, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.theta = theta

    def convolution_op(self, inputs: keras.KerasTensor, kernel: keras.KerasTensor) -> keras.KerasTensor:
        return super().convolution_op(inputs, _central_difference(kernel, self.theta))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "theta": self.theta}


class CDDepthwiseConv2D(layers.DepthwiseConv2D):  # type: ignore[misc]
    """Bias-free DepthwiseConv2D with a central-difference kernel (see _central_difference)."""

    def __init__(self, *args: Any, theta: float = 0.7, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.theta = theta

    def call(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        return keras.ops.depthwise_conv(
            inputs,
            _central_difference(self.kernel, self.theta),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "theta": self.theta}


def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str, l2: float, theta: float = 0.0
) -> keras.KerasTensor:
    conv = partial(CDConv2D, theta=theta) if theta > 0 else layers.Conv2D
    x = conv(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_regularizer=keras.regularizers.L2(l2),
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _ds_block(
    x: keras.KerasTensor, filters: int, stride: int, name: str, l2: float, theta: float = 0.0
) -> keras.KerasTensor:
    """Depthwise 3x3 (central-difference when theta > 0) + pointwise 1x1, residual when the shape is kept."""
    depthwise = partial(CDDepthwiseConv2D, theta=theta) if theta > 0 else layers.DepthwiseConv2D
    y = depthwise(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(name=f"{name}_dw_relu")(y)
    y = layers.Conv2D(
        filters, 1, use_bias=False, kernel_regularizer=keras.regularizers.L2(l2), name=f"{name}_pw"
    )(y)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_pw_bn")(y)
    if stride == 1 and x.shape[-1] == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_relu")(y)


def _stream(x: keras.KerasTensor, s: NetSettings, name: str) -> keras.KerasTensor:
    """One scale's CNN: (size, size, 3) in [-1, 1] -> feature vector (feature_dim,)."""
    x = _conv_bn(x, s.stem, 3, 2, f"{name}_stem", s.weight_decay, s.cdc_theta)
    for i, (filters, stride) in enumerate(s.blocks):
        x = _ds_block(x, filters, stride, f"{name}_b{i}", s.weight_decay, s.cdc_theta)
    spatial = int(x.shape[1])
    x = layers.DepthwiseConv2D(spatial, padding="valid", use_bias=False, name=f"{name}_gdc")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_gdc_bn")(x)
    x = layers.Flatten(name=f"{name}_flat")(x)
    x = layers.Dense(
        s.feature_dim,
        use_bias=False,
        kernel_regularizer=keras.regularizers.L2(s.weight_decay),
        name=f"{name}_fc",
    )(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_fc_bn")(x)
    return layers.ReLU(name=f"{name}_feat")(x)


def build(
    n_scales: int, size: int, settings: NetSettings = NetSettings(), input_name: str = "crops"
) -> tuple[keras.Model, keras.Model]:
    """(training model with outputs [fused, aux_0..aux_{n-1}], inference model with the fused output only).

    Input: float32 (batch, n_scales, size, size, 3), RGB in [0, 255]; output softmax [P(spoof), P(live)].
    The two models share every layer, so training one trains the other.
    """
    inputs = keras.Input((n_scales, size, size, 3), name=input_name)
    scaled = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit")(inputs)
    features, aux = [], []
    for i in range(n_scales):
        crop_i = layers.Lambda(lambda t, i=i: t[:, i], output_shape=(size, size, 3), name=f"scale{i}")(scaled)
        f = _stream(crop_i, settings, f"s{i}")
        features.append(f)
        aux.append(layers.Dense(2, activation="softmax", name=f"aux{i}")(f))
    seq = layers.Concatenate(axis=1, name="seq")(
        [layers.Reshape((1, settings.feature_dim), name=f"seq{i}")(f) for i, f in enumerate(features)]
    )
    h = layers.LSTM(settings.lstm_units, return_sequences=True, name="fusion_lstm")(seq)
    logits = layers.Dense(1, name="fusion_logit")(h)
    alpha = layers.Softmax(axis=1, name="fusion_weights")(logits)  # (batch, n_scales, 1)
    fused = layers.Flatten(name="fused")(layers.Dot(axes=1, name="fuse")([alpha, seq]))
    x = layers.Dense(settings.head_units, use_bias=False, name="head_fc")(fused)
    x = layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = layers.LeakyReLU(negative_slope=0.3, name="head_act")(x)
    x = layers.Dropout(settings.dropout, name="head_drop")(x)
    out = layers.Dense(2, activation="softmax", name="live")(x)
    train_model = keras.Model(inputs, [out, *aux], name="cnn2d_train")
    infer_model = keras.Model(inputs, out, name="cnn2d")
    return train_model, infer_model


MIRROR_LAYER = "mirror"
"""Name of the layer that reverses the width axis in `average`'s graph (export reads it from there)."""


def average(models: list[keras.Model], input_name: str = "crops", mirror: bool = True) -> keras.Model:
    """One inference model whose softmax is the mean of `models`' softmaxes (a seed ensemble), each also
    applied to the mirror image of the crops when `mirror` (test-time flip averaging).

    Networks trained from different seeds err on different faces of a held-out subject; their mean varies
    less than any one of them. Training flips faces at random, so a network's answer for a face and for its
    mirror image are two views of the same evidence; averaging them scores every face the same as its
    mirror image. One graph, so serving stays one ONNX run per batch of faces.
    """
    if len(models) == 1 and not mirror:
        return models[0]
    inputs = keras.Input(models[0].input_shape[1:], name=input_name)
    views = [inputs]
    if mirror:  # (batch, scales, height, width, channels): reverse the width axis
        views.append(layers.Lambda(lambda t: keras.ops.flip(t, axis=3), name=MIRROR_LAYER)(inputs))
    outs: list[keras.KerasTensor] = []
    for i, m in enumerate(models):
        m.name = f"member{i}"  # nested models need unique names
        outs.extend(m(view) for view in views)
    return keras.Model(inputs, layers.Average(name="mean")(outs), name="cnn2d")
