"""Multi-scale face-crop CNN liveness test (MS-FANS style), scored from an ONNX artifact.

Pure domain code: square crops at several scales around the face box (liveness.vision.face.crops, the same
function training uses), one ONNX inference for every scored frame, P(live) pooled over frames. No grpc here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from liveness.onnx import load_session
from liveness.runtime.config import from_env_fields
from liveness.types import Box, CheckOptions, FaceObservation, Media, RGBImage, Status, TestInfo, TestResult
from liveness.vision.face import PADDING, crops, single_face_frames

NAME = "cnn2d"
SCALES: tuple[float, ...] = (1.1, 1.3, 1.5)
"""Crop scales relative to the face box's longer side (MS-FANS uses 1.1-1.5: the context shows paper and
screen edges)."""
CROP_SIZE = 64
"""Side of every crop in pixels; the network sees (len(SCALES), CROP_SIZE, CROP_SIZE, 3) RGB per face."""
PAD = "black"
"""What fills a crop beyond the frame (`liveness.vision.face.crop`), in training and in the ONNX metadata
(serving reads it from there; a model without the key was trained with black). "edge" repeats the frame's
edge pixels, so the end of the frame cannot look like a black bezel or print border: tried with
`AugmentSettings.frame_cut`, not shipped (HISTORY.md, "Frame edges")."""
INPUT_NAME = "crops"
LIVE_CLASS = 1
"""Index of the live class in the network's 2-way softmax (0 = spoof)."""


def preprocess(
    image: RGBImage, box: Box, scales: Sequence[float] = SCALES, size: int = CROP_SIZE, pad: str = PAD
) -> npt.NDArray[np.float32]:
    """The network input for one face: float32 (len(scales), size, size, 3), RGB in [0, 255].

    Scaling to [-1, 1] happens inside the network, so training and serving cannot disagree about it.
    """
    return np.stack(crops(image, box, scales, size, pad)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Cnn2dSettings:
    """Start-up configuration of the cnn2d test; `from_env` reads CNN2D_* variables."""

    model_path: Path = Path(__file__).resolve().parents[1] / "models" / "cnn2d.onnx"
    threads: int = 1  # onnxruntime intra-op threads; match the pod's CPU limit
    max_frames: int = 8  # frames of a clip that are scored (the runtime keeps this many, evenly spaced)
    threshold: float = 0.5  # recommended decision threshold on P(live), reported in TestInfo

    def __post_init__(self) -> None:
        if self.threads < 1 or self.max_frames < 1 or not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"invalid cnn2d settings: {self}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Cnn2dSettings:
        """Settings from CNN2D_MODEL_PATH, _THREADS, _MAX_FRAMES, _THRESHOLD; bad values raise ValueError."""
        bounds = {"threads": (1, None), "max_frames": (1, None), "threshold": (0.0, 1.0)}
        return cls(**from_env_fields(cls, env, "CNN2D_", bounds))


class Cnn2dModel:
    """Scores faces with the multi-scale CNN; satisfies liveness.types.LivenessModel."""

    def __init__(self, settings: Cnn2dSettings) -> None:
        if not settings.model_path.is_file():
            raise FileNotFoundError(f"cnn2d model not found: {settings.model_path}")
        self._settings = settings
        self._session = load_session(settings.model_path, settings.threads)
        meta = self._session.get_modelmeta().custom_metadata_map
        self._scales = tuple(float(s) for s in meta.get("scales", ",".join(map(str, SCALES))).split(","))
        self._size = int(meta.get("crop_size", CROP_SIZE))
        self._pad = meta.get("pad", "black")
        if self._pad not in PADDING:
            raise ValueError(
                f"{settings.model_path.name}: unknown crop padding {self._pad!r} in its metadata"
            )
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [len(self._scales), self._size, self._size, 3]:
            raise ValueError(
                f"{settings.model_path.name}: unexpected input {inputs[0].name} {inputs[0].shape}"
            )
        self._input = inputs[0].name
        digest = hashlib.sha256(settings.model_path.read_bytes()).hexdigest()[:12]
        self._info = TestInfo(
            name=NAME,
            version=f"{meta.get('version', '0')}+{digest}",
            accepts_image=True,
            accepts_clip=True,
            min_frames=1,
            max_frames=settings.max_frames,  # the runtime keeps this many evenly spaced frames of a clip
            recommended_threshold=settings.threshold,
            needs_face=True,
            face_box_only=True,  # reads the face box only, never the landmarks
            model_card=(
                f"Multi-scale face-crop CNN (MS-FANS style): crops at scales {self._scales} of the face "
                f"box, {self._size}px, one CNN stream per scale, LSTM scale fusion"
                + (", averaged with the crops' mirror image" if meta.get("mirror_average") == "true" else "")
                + "; research-grade, trained on NUAA and replay-dev only."
            ),
        )

    @property
    def info(self) -> TestInfo:
        return self._info

    def score_faces(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """P(live) for each face: `batch` is float32 (N, n_scales, size, size, 3) from `preprocess`."""
        probs = self._session.run(None, {self._input: batch})[0]
        return np.asarray(probs[:, LIVE_CLASS], dtype=np.float32)

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        """Mean P(live) over up to `max_frames` frames with one face; NO_FACE / MULTIPLE_FACES from the
        observations (liveness.vision.face.single_face_frames)."""
        chosen, refusal = single_face_frames(faces, len(media), self._settings.max_frames)
        if refusal is not None:
            return refusal
        boxes = [faces[i].face.box for i in chosen]  # type: ignore[union-attr]
        batch = np.stack(
            [
                preprocess(media.frames[i], b, self._scales, self._size, self._pad)
                for i, b in zip(chosen, boxes, strict=True)
            ]
        )
        scores = self.score_faces(batch)
        score = float(np.clip(scores.mean(), 0.0, 1.0))
        detail = f"{len(chosen)} of {len(media)} frames scored; min {scores.min():.3f} max {scores.max():.3f}"
        return TestResult(score=score, status=Status.OK, detail=detail)

    def warmup(self) -> None:
        """One inference on a synthetic face so the first request does not pay for ORT's lazy set-up."""
        self.score_faces(np.zeros((1, len(self._scales), self._size, self._size, 3), dtype=np.float32))
