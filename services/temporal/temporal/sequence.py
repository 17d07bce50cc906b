"""LSTM-CNN over a sequence of face crops (seed 004): a small CNN per frame, an LSTM over time, P(live).

Seed 004 found crops at 1.8x the face box best (context shows print edges and screen bezels) and 5-9 time
steps enough; we take SEQ_LEN frames spread evenly over the clip. Training and serving both build inputs
with `sequence_input`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from liveness.onnx import load_session
from liveness.types import Box, RGBImage
from liveness.vision.face import crop
from liveness.vision.frames import evenly_spaced

SEQ_LEN = 8
CROP_SCALE = 1.8
CROP_SIZE = 64
INPUT_NAME = "frames"


def spread_indices(available: Sequence[int], count: int = SEQ_LEN) -> list[int]:
    """`count` entries of `available` spread evenly from first to last (repeats when there are fewer)."""
    if not available:
        raise ValueError("no frames to choose from")
    return [available[p] for p in evenly_spaced(len(available), count, repeat=True)]


def frame_crop(image: RGBImage, box: Box) -> RGBImage:
    """One time step's crop: RGB uint8 (CROP_SIZE, CROP_SIZE, 3) at CROP_SCALE around the face box."""
    return crop(image, box, CROP_SCALE, CROP_SIZE)


def to_input(crops: Sequence[RGBImage] | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 crops (T, S, S, 3) -> float32 in [0, 1], one sequence (T, S, S, 3)."""
    return np.asarray(crops, dtype=np.float32) / 255.0


def sequence_input(images: Sequence[RGBImage], boxes: Sequence[Box]) -> npt.NDArray[np.float32]:
    """The network's input for one clip: (SEQ_LEN, 64, 64, 3) float32 from frames and their face boxes."""
    if len(images) != SEQ_LEN or len(boxes) != SEQ_LEN:
        raise ValueError(f"need {SEQ_LEN} frames and boxes, got {len(images)} and {len(boxes)}")
    return to_input([frame_crop(im, b) for im, b in zip(images, boxes, strict=True)])


class SequenceClassifier:
    """ONNX LSTM-CNN; one session, created once."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session = load_session(model_path, threads)
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        self.version = meta.get("version", "unknown")
        shape = self._session.get_inputs()[0].shape
        if list(shape[1:]) != [SEQ_LEN, CROP_SIZE, CROP_SIZE, 3]:
            raise ValueError(
                f"{model_path.name}: input shape {shape} is not (n, {SEQ_LEN}, {CROP_SIZE}, {CROP_SIZE}, 3)"
            )

    def predict(self, sequences: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n, SEQ_LEN, 64, 64, 3) in [0, 1] -> (n,) P(live)."""
        out = self._session.run(None, {self._input: sequences.astype(np.float32, copy=False)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)
