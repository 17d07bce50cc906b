"""Identity: the same person in every frame, and optionally the person in a reference image.

face_recognition's 128-d ResNet embedding costs about 80 ms per face on two cores, so only a few frames
spread over the clip are encoded (first and last by default: a face swapped mid-clip differs from one of
them). Distances below `tolerance` (face_recognition's own default, 0.6) mean the same person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from liveness.types import Box, RGBImage

Encoder = Callable[[RGBImage, Box], npt.NDArray[np.float64]]


def face_recognition_encoder(image: RGBImage, box: Box) -> npt.NDArray[np.float64]:
    """128-d dlib ResNet embedding of the face in `box` (landmarks refitted by face_recognition)."""
    import face_recognition  # heavy import, deferred to first use

    h, w = image.shape[:2]
    location = (
        max(0, round(box.top)),
        min(w, round(box.right)),
        min(h, round(box.bottom)),
        max(0, round(box.left)),
    )
    encodings = face_recognition.face_encodings(image, known_face_locations=[location], num_jitters=1)
    return np.asarray(encodings[0], dtype=np.float64)


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
        """Encode one synthetic face, so the encoder's import and model load (about 0.9 s for
        face_recognition) happen at start-up instead of on the first clip."""
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
