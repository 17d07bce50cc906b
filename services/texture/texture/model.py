"""Colour-texture liveness test: colour LBP, hue CoALBP and distortion measures of the face box
(texture.features) -> standardise -> logistic regression -> Platt calibration -> P(live).

Pure numpy: the classifier is plain arrays in one .npz (no pickle). The calibration was fitted on scores of
domains (sessions, sources) that the scoring model never saw, so the recommended threshold 0.5 means the
same on a new camera as on the training data (texture.train, MODEL_CARD.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from liveness.runtime.config import from_env_fields
from liveness.types import CheckOptions, FaceObservation, Media, Status, TestInfo, TestResult
from liveness.vision.face import single_face_frames
from texture.features import CROP_SIZE, N_FEATURES, face_crop, features

NAME = "texture"
ARTIFACT = "texture.npz"
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TextureArtifact:
    """The classifier as arrays: z = ((x - mean) / scale) . coef + intercept; P(live) = sigmoid(a z + b)."""

    version: str
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    platt_slope: float
    platt_offset: float
    threshold: float = 0.5

    def __post_init__(self) -> None:
        shapes = {self.mean.shape, self.scale.shape, self.coef.shape}
        if shapes != {(N_FEATURES,)}:
            raise ValueError(f"texture artifact arrays must all be ({N_FEATURES},), got {sorted(shapes)}")

    def decision(self, features: FloatArray) -> FloatArray:
        """Uncalibrated logit(s) of (n, N_FEATURES) or (N_FEATURES,) features."""
        return np.atleast_2d((features - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, features: FloatArray) -> FloatArray:
        """Calibrated P(live) per row."""
        return 1.0 / (1.0 + np.exp(-(self.platt_slope * self.decision(features) + self.platt_offset)))

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {
            "version": np.array(self.version),
            "crop_size": np.array(CROP_SIZE),
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": np.array(self.intercept),
            "platt_slope": np.array(self.platt_slope),
            "platt_offset": np.array(self.platt_offset),
            "threshold": np.array(self.threshold),
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, **self.arrays())  # type: ignore[arg-type]  # numpy stubs

    @classmethod
    def load(cls, path: Path) -> TextureArtifact:
        """Read the .npz (pickle disabled); ValueError when it does not fit this code's features."""
        with np.load(path, allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files}
        if int(a.get("crop_size", -1)) != CROP_SIZE:
            raise ValueError(
                f"{path.name}: crop size {a.get('crop_size')} does not match this code's {CROP_SIZE}"
            )
        return cls(
            version=str(a["version"]),
            mean=a["mean"].astype(np.float64),
            scale=a["scale"].astype(np.float64),
            coef=a["coef"].astype(np.float64),
            intercept=float(a["intercept"]),
            platt_slope=float(a["platt_slope"]),
            platt_offset=float(a["platt_offset"]),
            threshold=float(a["threshold"]),
        )


@dataclass(frozen=True, slots=True)
class TextureSettings:
    """Configuration of the texture test; `from_env` reads TEXTURE_* variables."""

    model_path: Path = Path(__file__).resolve().parents[1] / "models" / ARTIFACT
    max_frames: int = 8  # frames of a clip that are scored: the most frontal of the candidates
    # Frames of a clip the scored ones are chosen from (the runtime keeps this many, evenly spaced, and
    # decodes only those scored). The score falls on a turned face, for live faces and attacks alike (see
    # MODEL_CARD.md, "Clips"), and the model was fitted on still images that are mostly frontal.
    candidate_frames: int = 16

    def __post_init__(self) -> None:
        if self.max_frames < 1 or self.candidate_frames < self.max_frames:
            raise ValueError(f"invalid texture settings: {self}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TextureSettings:
        """TEXTURE_MODEL_PATH, TEXTURE_MAX_FRAMES, TEXTURE_CANDIDATE_FRAMES; bad values raise ValueError."""
        bounds = {"max_frames": (1, None), "candidate_frames": (1, None)}
        return cls(**from_env_fields(cls, env, "TEXTURE_", bounds))


class TextureModel:
    """The texture liveness test (satisfies liveness.types.LivenessModel)."""

    def __init__(self, settings: TextureSettings) -> None:
        if not settings.model_path.is_file():
            raise FileNotFoundError(f"texture model not found: {settings.model_path}")
        self._settings = settings
        self._artifact = TextureArtifact.load(settings.model_path)
        self._info = TestInfo(
            name=NAME,
            version=self._artifact.version,
            accepts_image=True,
            accepts_clip=True,
            min_frames=1,
            max_frames=settings.candidate_frames,
            recommended_threshold=self._artifact.threshold,
            needs_face=True,
            face_box_only=True,  # scores the face box only
            clip_landmarks=True,  # a clip's landmarks say which frames are frontal
            model_card=(
                "Colour texture: uniform LBP histograms (8 points, radius 1 and 2) of the face box in H, S, "
                "V, Y, Cb and Cr, co-occurrence of adjacent LBP (CoALBP) of the hue plane, and 19 "
                "image-distortion measures (blur bands, brightness moments, glare; "
                "no colour-cast statistics), "
                "logistic regression on the cues whose direction agrees across training domains, "
                "calibrated on held-out sessions and sources. Clips: mean of the "
                f"{settings.max_frames} most frontal of up to {settings.candidate_frames} frames. "
                "Research-grade (NUAA, replay-dev, replay-more)."
            ),
        )

    @property
    def info(self) -> TestInfo:
        return self._info

    @property
    def artifact(self) -> TextureArtifact:
        return self._artifact

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        """Mean calibrated P(live) over the most frontal `max_frames` frames with one face (every such frame
        when there are no more); NO_FACE / MULTIPLE_FACES otherwise."""
        usable, refusal = single_face_frames(faces, len(media), self._settings.max_frames, frontal=True)
        if refusal is not None:
            return refusal
        feats = np.stack(
            [features(face_crop(media.frames[i], faces[i].face.box)) for i in usable]  # type: ignore[union-attr]
        )
        scores = self._artifact.proba(feats)
        score = float(np.clip(scores.mean(), 0.0, 1.0))
        detail = f"{len(usable)} of {len(media)} frames scored; min {scores.min():.3f} max {scores.max():.3f}"
        return TestResult(score=score, status=Status.OK, detail=detail)

    def warmup(self) -> None:
        """Score one synthetic crop so the feature code and OpenCV's conversions have run once."""
        rng = np.random.default_rng(0)
        self._artifact.proba(features(rng.integers(0, 256, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)))
