"""Whole-image quality test: Galbally quality measures (23 of the 25 since 1.6.0) -> standardise -> shrinkage
LDA -> P(live).

Pure numpy/OpenCV: the classifier, BIQI's and NIQE's parameters are plain arrays in one .npz (no pickle),
and the score is computed here with numpy. No face box is used, as in seed 001, so the gateway can start
this test before face detection finishes: the grey image, downscaled to the artifact's `max_side`, is
scored on its central part (`centre`: the share of each side kept; 1.0 for the whole image, as artifacts
before 1.4.0 were fitted).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from iqa import quality
from liveness.runtime.config import from_env_fields
from liveness.types import CheckOptions, FaceObservation, Media, RGBImage, Status, TestInfo, TestResult
from liveness.vision.frames import evenly_spaced

NAME = "iqa"
ARTIFACT = "iqa.npz"
FloatArray = npt.NDArray[np.float64]


def dft_friendly_side(n: int) -> int:
    """The largest even m <= n whose prime factors are all 2, 3 or 5 (n itself below 2).

    The spectral measures take OpenCV's DFT of the image, whose cost depends on the factors of its sides:
    410 x 410 (410 = 2 x 5 x 41) took 3.7 ms, 400 x 400 0.66 ms. Even, so no row or column is dropped
    for the packed real DFT (quality._Pair.spectra).
    """
    for m in range(n - n % 2, 1, -2):
        k = m
        for f in (2, 3, 5):
            while k % f == 0:
                k //= f
        if k == 1:
            return m
    return n


def preprocess(image: RGBImage, max_side: int, centre: float = 1.0) -> quality.Grey:
    """RGB uint8 (H, W, 3) -> grey float32 (H', W'), downscaled (area) so the longer side is <= max_side,
    then, with `centre` < 1, its central part: each side `centre` of the image's (rounded), brought down
    to a size the DFT handles fast (dft_friendly_side), around the image's centre.

    Quality measures depend on resolution (the blur kernel is fixed in pixels), so serving and training
    bring images to the same scale; smaller images are never upscaled (that would add blur). The central
    part keeps that resolution and costs what its pixels cost: a 640x480 image at 0.8 is scored on its
    central 512x384, 64 % of the pixels; a 512x512 one on 400x400 (61 %).
    """
    if not 0.0 < centre <= 1.0:
        raise ValueError(f"centre must be in (0, 1], got {centre}")
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        k = max_side / max(h, w)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        h, w = image.shape[:2]
    if centre < 1.0:
        ch, cw = (dft_friendly_side(max(1, round(side * centre))) for side in (h, w))
        top, left = (h - ch) // 2, (w - cw) // 2
        image = np.ascontiguousarray(image[top : top + ch, left : left + cw])
    return quality.grey_image(image)


def grey_std(grey: quality.Grey) -> float:
    """Standard deviation of a grey image, from its sum and sum of squares (OpenCV accumulates both in
    double, a quarter of cv2.meanStdDev's cost on float32); E[x^2] - E[x]^2 loses nothing that matters
    for the flatness check (values 0..255)."""
    n = grey.size
    if n == 0:
        return 0.0
    mean = cv2.sumElems(grey)[0] / n
    return math.sqrt(max(cv2.norm(grey, cv2.NORM_L2SQR) / n - mean * mean, 0.0))


def clip_frame_indexes(n_frames: int, count: int) -> list[int]:
    """`count` evenly spaced frame indexes over a clip of n_frames (the middle one alone when count is 1)."""
    if n_frames < 1:
        return []
    if count <= 1 or n_frames == 1:
        return [n_frames // 2]
    return evenly_spaced(n_frames, count)


def log_compress(x: FloatArray) -> FloatArray:
    """sign(x) log(1 + |x|), elementwise: monotone, keeps sign, tames heavy tails."""
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)), np.float64)


@dataclass(frozen=True, slots=True)
class LdaClassifier:
    """Standardisation, a two-class LDA and a Platt calibration, as arrays:

    d = ((t(x) - mean) / scale) . coef + intercept,  P(live) = sigmoid(platt_slope d + platt_offset).

    t is `log_compress` (sign(x) log(1 + |x|)) when the flag is set, else the identity: several measures
    (MSE, SME, GME, NIQE ...) are heavy-tailed, and compressing them makes the linear boundary carry
    across subjects better. d is exactly sklearn's LinearDiscriminantAnalysis decision_function for two
    classes (live = class 1) on the transformed, standardised features; with slope 1 and offset 0 the
    probability is its predict_proba. The training script fits slope and offset on subjects held out of
    the LDA fit (see iqa.train.fit_calibrated), because LDA's own probabilities do not carry across people.
    """

    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    log_features: bool = False
    platt_slope: float = 1.0
    platt_offset: float = 0.0

    def decision(self, features: FloatArray) -> FloatArray:
        """The LDA decision value d per row of `features` (n, 25), before calibration."""
        x = np.atleast_2d(features)
        if self.log_features:
            x = log_compress(x)
        z = (x - self.mean) / self.scale
        return np.asarray(z @ self.coef + self.intercept, np.float64)

    def proba(self, features: FloatArray) -> FloatArray:
        """Calibrated P(live) per row of `features` (n, 25)."""
        d = np.clip(self.platt_slope * self.decision(features) + self.platt_offset, -500.0, 500.0)
        return np.asarray(1.0 / (1.0 + np.exp(-d)), np.float64)

    def calibrated(self, slope: float, offset: float) -> LdaClassifier:
        """The same LDA with P(live) = sigmoid(slope d + offset)."""
        return replace(self, platt_slope=float(slope), platt_offset=float(offset))

    def uncalibrated(self) -> LdaClassifier:
        """The same LDA with its own probabilities (slope 1, offset 0)."""
        return replace(self, platt_slope=1.0, platt_offset=0.0)


@dataclass(frozen=True, slots=True)
class IqaArtifact:
    """Everything the service loads: the classifier, BIQI and NIQE parameters, and how to preprocess.

    `feature_names`: the measures the classifier reads, some of quality.METRICS in its order (all 25 before
    1.6.0); only those are computed. `niqe` is None when NIQE is not among them.
    """

    version: str
    classifier: LdaClassifier
    biqi: quality.BiqiModel
    niqe: quality.NiqeModel | None
    max_side: int
    threshold: float
    feature_names: tuple[str, ...] = quality.METRICS
    centre: float = 1.0  # share of each side scored, around the centre (see preprocess)

    def __post_init__(self) -> None:
        if not 0.0 < self.centre <= 1.0 or self.max_side < 1:
            raise ValueError(
                f"iqa artifact: centre {self.centre} not in (0, 1] or max_side {self.max_side} < 1"
            )
        quality.check_feature_names(self.feature_names)
        if ("NIQE" in self.feature_names) != (self.niqe is not None):
            raise ValueError("iqa artifact: a NIQE model goes with the NIQE feature, and only with it")
        if self.classifier.coef.shape != (len(self.feature_names),):
            raise ValueError(
                f"iqa artifact: {self.classifier.coef.shape[0]} LDA weights for "
                f"{len(self.feature_names)} features"
            )

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {
            "version": np.array(self.version),
            "feature_names": np.array(self.feature_names),
            "max_side": np.array(self.max_side),
            "centre": np.array(self.centre),
            "threshold": np.array(self.threshold),
            "lda_mean": self.classifier.mean,
            "lda_scale": self.classifier.scale,
            "lda_coef": self.classifier.coef,
            "lda_intercept": np.array(self.classifier.intercept),
            "lda_log_features": np.array(self.classifier.log_features),
            "lda_platt_slope": np.array(self.classifier.platt_slope),
            "lda_platt_offset": np.array(self.classifier.platt_offset),
            **self.biqi.arrays(),
            **(self.niqe.arrays() if self.niqe is not None else {}),
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, **self.arrays())  # type: ignore[arg-type]  # numpy stubs

    @classmethod
    def load(cls, path: Path) -> IqaArtifact:
        """Read the .npz (pickle disabled); ValueError when it is not an iqa artifact of this layout."""
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        names = tuple(str(n) for n in arrays.get("feature_names", ()))
        try:
            quality.check_feature_names(names)
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}") from None
        return cls(
            version=str(arrays["version"]),
            classifier=LdaClassifier(
                mean=arrays["lda_mean"].astype(np.float64),
                scale=arrays["lda_scale"].astype(np.float64),
                coef=arrays["lda_coef"].astype(np.float64),
                intercept=float(arrays["lda_intercept"]),
                log_features=bool(arrays["lda_log_features"]) if "lda_log_features" in arrays else False,
                platt_slope=float(arrays["lda_platt_slope"]) if "lda_platt_slope" in arrays else 1.0,
                platt_offset=float(arrays["lda_platt_offset"]) if "lda_platt_offset" in arrays else 0.0,
            ),
            biqi=quality.BiqiModel.from_arrays(arrays),
            niqe=quality.NiqeModel.from_arrays(arrays) if "NIQE" in names else None,
            max_side=int(arrays["max_side"]),
            threshold=float(arrays["threshold"]),
            feature_names=names,
            # Artifacts before 1.4.0 have no "centre": they were fitted on the whole image.
            centre=float(arrays["centre"]) if "centre" in arrays else 1.0,
        )


@dataclass(frozen=True, slots=True)
class IqaSettings:
    """Configuration of the iqa test; `from_env` reads IQA_* variables."""

    model_path: Path = Path(__file__).resolve().parents[1] / "models" / ARTIFACT
    threads: int = 1  # OpenCV threads for the filters (the process-wide cv2 setting)
    clip_frames: int = 3  # evenly spaced frames scored per clip, scores averaged
    min_contrast: float = 2.0  # grey standard deviation below which the image is LOW_QUALITY (flat)

    def __post_init__(self) -> None:
        if self.threads < 1 or self.clip_frames < 1 or self.min_contrast < 0:
            raise ValueError(f"invalid iqa settings: {self}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IqaSettings:
        """IQA_MODEL_PATH, IQA_THREADS, IQA_CLIP_FRAMES, IQA_MIN_CONTRAST; bad values
        raise ValueError."""
        bounds = {"threads": (1, None), "clip_frames": (1, None), "min_contrast": (0.0, None)}
        return cls(**from_env_fields(cls, env, "IQA_", bounds))


class IqaModel:
    """The iqa liveness test (satisfies liveness.types.LivenessModel)."""

    def __init__(self, settings: IqaSettings) -> None:
        if not settings.model_path.is_file():
            raise FileNotFoundError(f"iqa model not found: {settings.model_path}")
        cv2.setNumThreads(settings.threads)
        self._settings = settings
        self._artifact = IqaArtifact.load(settings.model_path)
        self._info = TestInfo(
            name=NAME,
            version=self._artifact.version,
            accepts_image=True,
            accepts_clip=True,
            min_frames=1,
            max_frames=settings.clip_frames,
            recommended_threshold=self._artifact.threshold,
            needs_face=False,
            model_card=(
                f"Whole-image quality: {len(self._artifact.feature_names)} of the 25 Galbally et al. (2014) "
                "measures of the grey image (its central "
                f"{self._artifact.centre:.0%} of each side) against its 5x5 Gaussian blur, shrinkage LDA, "
                "Platt-calibrated on held-out subjects. Clips: mean of up to "
                f"{settings.clip_frames} evenly spaced frames. Research-grade (NUAA, replay-dev)."
            ),
        )

    @property
    def info(self) -> TestInfo:
        return self._info

    @property
    def artifact(self) -> IqaArtifact:
        return self._artifact

    def features(self, image: RGBImage) -> tuple[FloatArray, float]:
        """The artifact's features of one RGB image and its grey standard deviation."""
        grey = preprocess(image, self._artifact.max_side, self._artifact.centre)
        art = self._artifact
        feats = quality.features(grey, art.biqi, art.niqe, art.feature_names)
        return feats, grey_std(grey)

    def score_image(self, image: RGBImage) -> tuple[float, float]:
        """(P(live), grey standard deviation) of one RGB image."""
        feats, contrast = self.features(image)
        return float(self._artifact.classifier.proba(feats)[0]), contrast

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        """Score an image, or the mean over evenly spaced frames of a clip; `faces` is ignored."""
        indexes = clip_frame_indexes(len(media.frames), self._settings.clip_frames if media.is_clip else 1)
        if not media.is_clip:
            indexes = [0]
        scored = [self.score_image(media.frames[i]) for i in indexes]
        score = float(np.clip(np.mean([s for s, _ in scored]), 0.0, 1.0))
        contrast = min(c for _, c in scored)
        frames = ",".join(str(i) for i in indexes)
        if contrast < self._settings.min_contrast:
            return TestResult(
                score=score,
                status=Status.LOW_QUALITY,
                detail=f"image is nearly flat (grey std {contrast:.2f} < {self._settings.min_contrast})",
            )
        return TestResult(score=score, status=Status.OK, detail=f"frames={frames}")

    def warmup(self) -> None:
        """Score one synthetic 640x480 image so every code path (and OpenCV's lazy setup) has run once."""
        rng = np.random.default_rng(0)
        image = np.asarray(
            cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (3, 3), 0), np.uint8
        )
        self.score_image(image)
