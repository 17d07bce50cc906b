"""dlib's face recognition ResNet, read from face_recognition_models' own weights and run by onnxruntime.

face_recognition's encodings (dlib's `face_recognition_model_v1`) are what the identity check compares; the
dlib wheel we install (dlib-bin) is built without BLAS, so one 150x150 face chip costs about 90 ms there. This
module reads the same network's weights from the same file (`dlib_face_recognition_resnet_model_v1.dat`, the
file face_recognition loads) and builds the same computation as an ONNX graph: about 9 ms a chip on one
thread, with descriptors equal to dlib's within float rounding (tests/temporal compares them). Nothing is
downloaded and no artifact is added: the graph is built from the installed file at start-up (about 0.2 s).

The network is the one of dlib's dnn_face_recognition_ex.cpp (a ResNet-29): a 7x7/2 convolution, 3x3/2 max
pooling, 14 residual units of two 3x3 convolutions with affine (frozen batch-norm) layers, whose
down-sampling units add a 2x2/2 average pooling of their input, a global average pooling and a 128x256
fully connected layer without bias. dlib adds tensors of different shapes as if the smaller one were
zero-padded at the end (`tt::add`); the graph pads likewise. The face chip is dlib's own
(`dlib.get_face_chip`, 150 px, padding 0.25, on the 5-point landmarks), as in `compute_face_descriptor`.

dlib's serialisation: integers as a byte of (length | 0x80 if negative) and that many little-endian bytes;
floats as an integer mantissa and exponent; strings as length and bytes; tensors (version 2) as four
dimensions and raw little-endian float32 data; the layers of the network in post-order, each an
`add_layer` (version 2) or a tag or skip layer (version 1, nothing but its sub-network).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

CHIP_SIZE = 150
CHIP_PADDING = 0.25
DESCRIPTOR_SIZE = 128


class _Reader:
    """dlib's serialisation primitives over a bytes object."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def integer(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa * 2.0 ** self.integer())

    def string(self) -> str:
        n = self.integer()
        text = self.data[self.pos : self.pos + n].decode("ascii", "replace")
        self.pos += n
        return text

    def flag(self) -> bool:
        char = self.data[self.pos : self.pos + 1]
        self.pos += 1
        if char not in (b"0", b"1"):
            raise ValueError(f"expected a serialised bool at byte {self.pos - 1}, got {char!r}")
        return char == b"1"

    def tensor(self) -> npt.NDArray[np.float32]:
        self.expect(2, "tensor version")
        shape = tuple(self.integer() for _ in range(4))
        n = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", n, self.pos).reshape(shape).astype(np.float32)
        self.pos += 4 * n
        return values

    def alias(self) -> tuple[int, ...]:
        self.expect(1, "alias_tensor version")
        return tuple(self.integer() for _ in range(4))

    def expect(self, value: int | str, what: str) -> None:
        got = self.string() if isinstance(value, str) else self.integer()
        if got != value:
            raise ValueError(f"{what}: expected {value!r}, got {got!r} (byte {self.pos})")


@dataclass(frozen=True, slots=True)
class _Layer:
    kind: str  # con, affine, relu, max_pool, avg_pool, add, fc
    weights: tuple[npt.NDArray[np.float32], ...] = ()
    ints: tuple[
        int, ...
    ] = ()  # con: stride y, x, padding y, x; pools: window y, x, stride y, x, padding y, x


def _read_layer(r: _Reader, name: str) -> _Layer:
    if name == "con_4":
        params = r.tensor().ravel()
        n_filters, _, _, sy, sx, py, px = (r.integer() for _ in range(7))
        filters, _ = r.alias(), r.alias()
        for _ in range(4):
            r.real()  # learning-rate and weight-decay multipliers
        n = int(np.prod(filters))
        weights = params[:n].reshape(filters)
        return _Layer("con", (weights, params[n : n + n_filters]), (sy, sx, py, px))
    if name == "affine_":
        params = r.tensor().ravel()
        gamma, _ = r.alias(), r.alias()
        r.integer()  # mode
        n = int(np.prod(gamma))
        return _Layer("affine", (params[:n], params[n : 2 * n]))
    if name == "relu_":
        return _Layer("relu")
    if name in ("max_pool_2", "avg_pool_2"):
        return _Layer(name[:-2], (), tuple(r.integer() for _ in range(6)))
    if name == "add_prev_":
        return _Layer("add")
    if name == "fc_2":
        n_out, n_in = r.integer(), r.integer()
        params = r.tensor()
        r.alias(), r.alias()
        r.integer()  # bias mode
        for _ in range(4):
            r.real()
        return _Layer("fc", (params.reshape(-1)[: n_in * n_out].reshape(n_in, n_out),))
    raise ValueError(f"unexpected layer {name!r} at byte {r.pos}")


def read_dat(data: bytes) -> tuple[tuple[float, float, float], list[_Layer]]:
    """The input layer's channel means and the layers, bottom up, of a dlib metric-loss network file."""
    r = _Reader(data)
    r.expect(1, "loss layer version")
    r.expect("loss_metric_2", "loss layer")
    r.real(), r.real()  # margin, distance threshold
    while (version := r.integer()) in (1, 2):
        pass  # the versions of the nested layers, top down
    if version != 3:
        raise ValueError(f"expected the input layer's version 3, got {version}")
    r.expect("input_rgb_image_sized", "input layer")
    means = (r.real(), r.real(), r.real())
    r.expect(CHIP_SIZE, "input rows")
    r.expect(CHIP_SIZE, "input columns")
    layers = []
    while r.pos < len(r.data):
        layers.append(_read_layer(r, r.string()))
        for _ in range(3):
            r.flag()
        for _ in range(3):
            r.tensor()  # gradient and output buffers (empty in a saved network)
        if len(layers) == 1:
            r.integer()  # the input layer's sample expansion factor
    return means, layers


class _Graph:
    """An ONNX graph built layer by layer, with the static shapes dlib's tensors would have."""

    def __init__(self) -> None:
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value: npt.NDArray[np.generic]) -> str:
        from onnx import numpy_helper

        name = self.name("w")
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _out_side(side: int, window: int, stride: int, pad: int) -> int:
    return 1 + (side + 2 * pad - window) // stride


def build_onnx(means: tuple[float, float, float], layers: list[_Layer]) -> bytes:
    """The ONNX model (bytes) of the network: input "chips" (n, 150, 150, 3) uint8 RGB, output
    "descriptors" (n, 128) float32."""
    from onnx import TensorProto, helper

    g = _Graph()
    x = g.node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    mean = np.asarray(means, np.float32).reshape(1, 3, 1, 1)
    x = g.node("Div", [g.node("Sub", [x, g.const(mean)]), g.const(np.asarray(256.0, np.float32))])
    shape = (3, CHIP_SIZE, CHIP_SIZE)  # channels, rows, columns of x
    unit_input: tuple[str, tuple[int, int, int]] | None = None  # x and its shape where a residual unit began
    pooled: tuple[str, tuple[int, int, int]] | None = None  # a down-sampling unit's pooled input
    block_output: tuple[str, tuple[int, int, int]] | None = None
    stem_done = False
    for layer in layers:
        if layer.kind == "con":
            if stem_done and unit_input is None:
                unit_input = (x, shape)
            w, b = layer.weights
            sy, sx, py, px = layer.ints
            x = g.node("Conv", [x, g.const(w), g.const(b)], strides=[sy, sx], pads=[py, px, py, px])
            kh, kw = w.shape[2:]
            shape = (w.shape[0], _out_side(shape[1], kh, sy, py), _out_side(shape[2], kw, sx, px))
        elif layer.kind == "affine":
            gamma, beta = (v.reshape(1, -1, 1, 1) for v in layer.weights)
            x = g.node("Add", [g.node("Mul", [x, g.const(gamma)]), g.const(beta)])
        elif layer.kind == "relu":
            x = g.node("Relu", [x])
            if unit_input is not None and block_output is not None:
                unit_input = block_output = None  # the relu after a unit's sum: the unit is done
        elif layer.kind == "max_pool":
            wy, wx, sy, sx, py, px = layer.ints
            x = g.node("MaxPool", [x], kernel_shape=[wy, wx], strides=[sy, sx], pads=[py, px, py, px])
            shape = (shape[0], _out_side(shape[1], wy, sy, py), _out_side(shape[2], wx, sx, px))
            stem_done = True
        elif layer.kind == "avg_pool":
            wy, wx, sy, sx, py, px = layer.ints
            if wy == 0 and wx == 0:  # avg_pool_everything
                x = g.node("Flatten", [g.node("GlobalAveragePool", [x])])
                shape = (shape[0], 1, 1)
                continue
            if unit_input is None or py or px:
                raise ValueError("unexpected average pooling in the face recognition network")
            src, (c, h, w_) = unit_input
            out = g.node("AveragePool", [src], kernel_shape=[wy, wx], strides=[sy, sx])
            block_output = (x, shape)
            pooled = (out, (c, _out_side(h, wy, sy, 0), _out_side(w_, wx, sx, 0)))
        elif layer.kind == "add":
            if unit_input is None:
                raise ValueError("a residual sum without a residual unit")
            other = pooled if pooled is not None else unit_input
            pooled = None
            x, shape = _padded_sum(g, (x, shape), other)
            block_output = (x, shape)
        elif layer.kind == "fc":
            (w,) = layer.weights
            x = g.node("MatMul", [x, g.const(w)])
    graph = helper.make_graph(
        g.nodes,  # type: ignore[arg-type]
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["n", DESCRIPTOR_SIZE])],
        g.inits,  # type: ignore[arg-type]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _padded_sum(
    g: _Graph, a: tuple[str, tuple[int, int, int]], b: tuple[str, tuple[int, int, int]]
) -> tuple[str, tuple[int, int, int]]:
    """dlib's add of two tensors: the larger shape, the smaller tensor zero-padded at the end."""
    shape = tuple(max(p, q) for p, q in zip(a[1], b[1], strict=True))
    names = []
    for name, own in (a, b):
        if own != shape:
            pads = [0, 0, 0, 0, 0, *(s - o for s, o in zip(shape, own, strict=True))]
            name = g.node("Pad", [name, g.const(np.asarray(pads, np.int64))])
        names.append(name)
    return g.node("Add", names), (int(shape[0]), int(shape[1]), int(shape[2]))


class FaceResNet:
    """128-d face descriptors of face chips, equal to dlib's `compute_face_descriptor` within rounding."""

    def __init__(self, weights: Path, threads: int = 1) -> None:
        from liveness.onnx import load_session

        means, layers = read_dat(weights.read_bytes())
        self._session = load_session(build_onnx(means, layers), threads)

    def descriptors(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        """(n, 150, 150, 3) uint8 RGB chips -> (n, 128) descriptors."""
        out = self._session.run(None, {"chips": np.ascontiguousarray(chips, dtype=np.uint8)})[0]
        return np.asarray(out, dtype=np.float64)
