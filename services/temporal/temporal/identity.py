"""Identity: the same person in every frame, and optionally the person in a reference image.

face_recognition's 128-d ResNet embedding (dlib's face recognition model) is computed by temporal.face_resnet:
the same network and weights run by onnxruntime, about 7 ms of CPU a face where the dlib wheel spends about
90 ms. Only a few frames spread over the clip are encoded (first and last by default: a face swapped mid-clip
differs from one of them). Distances below `tolerance` (face_recognition's own default, 0.6) mean the same
person.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from liveness.types import Box, RGBImage
from temporal import face_resnet

Encoder = Callable[[RGBImage, Box], npt.NDArray[np.float64]]


class _Models:
    """face_recognition's 5-point landmark model and the ResNet, loaded once (about 1.5 s)."""

    def __init__(self) -> None:
        from pathlib import Path

        import dlib
        import face_recognition_models  # heavy: deferred until first use

        self.dlib: Any = dlib
        self.points: Any = dlib.shape_predictor(
            face_recognition_models.pose_predictor_five_point_model_location()
        )
        self.net = face_resnet.FaceResNet(Path(face_recognition_models.face_recognition_model_location()))
        self.lock = threading.Lock()  # dlib's predictor is not documented as thread-safe


@cache
def _models() -> _Models:
    return _Models()


def face_recognition_encoder(image: RGBImage, box: Box) -> npt.NDArray[np.float64]:
    """face_recognition's 128-d embedding of the face in `box` (`face_encodings` with its 5-point model,
    one jitter): the 5 landmarks and the 150 px chip by dlib, the ResNet by temporal.face_resnet."""
    m = _models()
    h, w = image.shape[:2]
    rect = m.dlib.rectangle(
        max(0, round(box.left)), max(0, round(box.top)), min(w, round(box.right)), min(h, round(box.bottom))
    )
    with m.lock:
        shape = m.points(image, rect)
        chip = m.dlib.get_face_chip(
            image, shape, size=face_resnet.CHIP_SIZE, padding=face_resnet.CHIP_PADDING
        )
    return m.net.descriptors(np.asarray(chip, dtype=np.uint8)[None])[0]


@dataclass(frozen=True, slots=True)
class IdentityResult:
    """Largest embedding distance between the encoded frames, and to the reference when one was sent."""

    frames: tuple[int, ...]
    max_distance: float
    consistent: bool
    reference_distance: float | None = None
    reference_match: bool | None = None


class IdentityChecker:
    """Encodes a few frames and compares them with each other and with the reference."""

    def __init__(self, encoder: Encoder = face_recognition_encoder, tolerance: float = 0.6) -> None:
        if not 0.0 < tolerance < 2.0:
            raise ValueError(f"tolerance must be in (0, 2), got {tolerance}")
        self._encode = encoder
        self.tolerance = tolerance

    def warmup(self) -> None:
        """Encode one synthetic face, so the encoder's model load (about 1.5 s for face_recognition_encoder)
        happens at start-up instead of on the first clip."""
        self._encode(np.zeros((64, 64, 3), np.uint8), Box(8.0, 8.0, 56.0, 56.0))

    def check(
        self,
        images: Sequence[RGBImage],
        boxes: Sequence[Box],
        frame_indexes: Sequence[int],
        reference: tuple[RGBImage, Box] | None = None,
    ) -> IdentityResult:
        """Compare the faces `boxes[i]` in `images[i]` pairwise and with `reference` (image, face box)."""
        if not images:
            raise ValueError("need at least one frame to check identity")
        codes = [self._encode(im, b) for im, b in zip(images, boxes, strict=True)]
        distances = [float(np.linalg.norm(a - b)) for a, b in combinations(codes, 2)]
        max_distance = max(distances, default=0.0)
        ref_distance: float | None = None
        ref_match: bool | None = None
        if reference is not None:
            ref_code = self._encode(*reference)
            ref_distance = float(np.mean([np.linalg.norm(c - ref_code) for c in codes]))
            ref_match = ref_distance < self.tolerance
        return IdentityResult(
            frames=tuple(frame_indexes),
            max_distance=max_distance,
            consistent=max_distance < self.tolerance,
            reference_distance=ref_distance,
            reference_match=ref_match,
        )
