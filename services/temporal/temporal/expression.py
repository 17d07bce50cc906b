"""Facial-expression classifier (FaceLiveNet's challenge branch, seed 002): face crop -> P(expression).

The network is trained from scratch on FER2013 (48x48 grey faces) for the three expressions a
challenge asks for and a person can produce on demand: neutral, happy (SMILE) and surprise (SURPRISE).
Training and serving share `expression_input`, so a served crop looks like a training image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from liveness.onnx import load_session
from liveness.types import Box, RGBImage
from liveness.vision.face import crop

EXPRESSIONS = ("neutral", "happy", "surprise")
"""Class order of the classifier's output."""
INPUT_SIZE = 48
# FER2013 faces are cut a little wider than dlib's HOG box (forehead to chin, ears at the border).
CROP_SCALE = 1.15
INPUT_NAME = "faces"


def expression_input(image: RGBImage, box: Box) -> npt.NDArray[np.float32]:
    """The classifier's input for one face: grey, 48x48, values in [0, 1], shape (48, 48, 1)."""
    face = crop(image, box, CROP_SCALE, INPUT_SIZE)
    grey = np.asarray(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    return normalise_grey(grey)


def normalise_grey(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 (48, 48) grey face -> float32 (48, 48, 1) in [0, 1]; FER2013 images go through this too."""
    return (grey.astype(np.float32) / 255.0)[:, :, None]


class ExpressionClassifier:
    """ONNX expression network; one session, created once."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session = load_session(model_path, threads)
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        classes = tuple(meta.get("classes", ",".join(EXPRESSIONS)).split(","))
        if classes != EXPRESSIONS:
            raise ValueError(f"{model_path.name}: classes {classes} differ from {EXPRESSIONS}")
        self.version = meta.get("version", "unknown")

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n, 48, 48, 1) inputs -> (n, 3) class probabilities in EXPRESSIONS order."""
        if faces.ndim != 4 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1):
            raise ValueError(f"expected (n, {INPUT_SIZE}, {INPUT_SIZE}, 1) faces, got {faces.shape}")
        out = self._session.run(None, {self._input: faces.astype(np.float32, copy=False)})[0]
        return np.asarray(out, dtype=np.float32)

    def predict_faces(self, images: Sequence[RGBImage], boxes: Sequence[Box]) -> npt.NDArray[np.float32]:
        """Class probabilities for the face `boxes[i]` in `images[i]`, shape (n, 3)."""
        if not images:
            return np.zeros((0, len(EXPRESSIONS)), dtype=np.float32)
        batch = np.stack([expression_input(im, b) for im, b in zip(images, boxes, strict=True)])
        return self.predict(batch)
