"""What every training recipe shares: TensorFlow threads and seeds, Keras -> ONNX export with one parity
check and one report, and the digests of the artifacts a recipe writes.

TensorFlow, Keras, tf2onnx and onnx are imported inside the functions that need them: the serving images
carry none of them, and importing this module costs nothing there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from liveness.errors import ParityError

log = logging.getLogger(__name__)

OPSET = 17
"""ONNX opset of every exported network."""
PARITY_TOLERANCE = 1e-4
"""Largest |Keras - ONNX| allowed on an export's probe inputs; float32 graphs here differ by about 1e-7."""


ISA_ENV = "ONEDNN_MAX_CPU_ISA"
TRAINING_ISA = "AVX2"
"""The instruction set TensorFlow's oneDNN kernels (convolutions, and the matrix products Eigen hands to
oneDNN) may use while training. oneDNN otherwise picks kernels by the CPU it finds (AVX2, AVX-512, AMX); their
float sums differ in the last bits, and training grows those bits into another network. cnn2d's cross-session
networks, same seeds, data and threads, on one AVX-512 machine, NUAA session 01 ACER: 2.7 % with its own
kernels, 0.6 % held to AVX2; with TensorFlow's oneDNN layer off (TF_ENABLE_ONEDNN_OPTS=0) 1.7 %, and 1.8 %
off and held to AVX2 (the matrix products still go through oneDNN). Held to AVX2, which every x86-64 server
CPU since 2013-2015 has, machines run the same kernels; two runs here gave identical scores. A CPU without
AVX2 falls back to older kernels and other models. Training sets it unless the environment already does."""


def reproducible_environment() -> None:
    """Settings TensorFlow reads when it is imported, so call this before anything imports TensorFlow or
    Keras (`liveness train` does, before it loads a recipe): oneDNN held to TRAINING_ISA unless set."""
    if ISA_ENV not in os.environ and "tensorflow" in sys.modules:
        log.warning(
            "TensorFlow was imported before the training environment was set: its kernels may follow this "
            "machine's CPU, and so may the model (liveness.training.TRAINING_ISA)"
        )
    os.environ.setdefault(ISA_ENV, TRAINING_ISA)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow(threads: int) -> Any:
    """TensorFlow, imported with `threads` intra-op threads and one inter-op thread (training machines are
    shared) and deterministic ops (`enable_op_determinism`: same seeds, same thread count, same result). When
    TensorFlow already ran in this process the threads cannot change; a warning says so. A warning also says
    when TensorFlow was imported before `reproducible_environment` could hold oneDNN to TRAINING_ISA."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    reproducible_environment()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised (an earlier fold, a notebook, a test session)
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            log.warning("TensorFlow already initialised: %d threads not applied (runs %d)", threads, current)
    return tf


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and TensorFlow's generators (through Keras), and child processes' hashing."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)


def digest(path: Path) -> dict[str, Any]:
    """One artifact's size and SHA-256, the form every metrics.json records under "artifacts"."""
    data = Path(path).read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def digests(*paths: Path) -> dict[str, dict[str, Any]]:
    """{file name: digest(file)} for the artifacts a recipe wrote."""
    return {Path(p).name: digest(p) for p in paths}


def export_onnx(
    model: Any,
    path: Path,
    metadata: dict[str, str],
    probe: npt.NDArray[Any] | Sequence[npt.NDArray[Any]],
    *,
    output_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write Keras `model` to ONNX at `path` with a dynamic batch axis and `metadata` in metadata_props,
    then check it: the largest |Keras - ONNX| over every output on `probe` (one array per model input, in
    model.inputs order, cast to float32) must not exceed PARITY_TOLERANCE, or ParityError is raised and the
    file removed. The inputs keep the Keras Input names. Returns the export report every recipe records:
    {"opset", "parity_tolerance", "max_abs_diff", "metadata"} (the file's digest goes under "artifacts").
    """
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    arrays = [probe] if isinstance(probe, np.ndarray) else list(probe)
    if len(arrays) != len(model.inputs):
        raise ValueError(f"the model has {len(model.inputs)} inputs, the probe {len(arrays)} arrays")
    feeds = [np.asarray(a, dtype=np.float32) for a in arrays]
    names = [inp.name for inp in model.inputs]
    spec = [
        tf.TensorSpec((None, *inp.shape[1:]), tf.float32, name=name)
        for inp, name in zip(model.inputs, names, strict=True)
    ]
    if output_names is not None:
        model.output_names = list(output_names)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip(names, feeds, strict=True)))
    want = model(feeds[0] if len(feeds) == 1 else feeds, training=False)
    want = [np.asarray(w) for w in (want if isinstance(want, list | tuple) else [want])]
    if len(got) != len(want):
        path.unlink()
        raise ParityError(f"{path.name}: ONNX has {len(got)} outputs, Keras {len(want)}")
    diff = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want, strict=True))
    if not diff <= PARITY_TOLERANCE:
        path.unlink()
        raise ParityError(f"{path.name}: max |keras - onnx| = {diff:.2e} > {PARITY_TOLERANCE:g}")
    return {
        "opset": OPSET,
        "parity_tolerance": PARITY_TOLERANCE,
        "max_abs_diff": diff,
        "metadata": dict(metadata),
    }
