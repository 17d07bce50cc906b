"""The one way every test opens its ONNX model: CPU provider, bounded threads, created once at start-up."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def load_session(model_path: Path | bytes, threads: int = 1) -> ort.InferenceSession:
    """An InferenceSession on the CPU with `threads` intra-op threads (match the pod's CPU limit) and no
    inter-op parallelism, so a service's worker threads do not oversubscribe the cores.

    `model_path`: the model file, or a serialised model built in memory."""
    if isinstance(model_path, bytes):
        source: str | bytes = model_path
    elif not model_path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {model_path}")
    else:
        source = str(model_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
