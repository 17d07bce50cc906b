"""The 25 image-quality measures of Galbally, Marcel and Fierrez (IEEE TIP 2014), vectorised.

Every full-reference measure compares the grey image I (float32, 0..255) with Î, its 5x5 Gaussian blur
(sigma from OpenCV's rule for ksize 5, 1.1), as seed 001 does: a real face loses more fine detail to the
blur than a recaptured print or screen, which has already lost it. The no-reference measures (JQI, HLFI,
BIQI, NIQE) look at I alone. BIQI and NIQE need fitted parameters (`BiqiModel`, `NiqeModel`), which the
training script fits from data we have and stores as plain arrays.

Shared intermediate results (difference image, spectra, gradients, wavelet bands) are computed once per
image in `_Pair` and reused; each metric function is also usable on its own, for tests and the benchmark.
Where the paper leaves a detail open, the choice is written next to the metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from time import perf_counter
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.float32]
"""A grey image, float32, shape (H, W), values in 0..255."""

FloatArray = npt.NDArray[np.float64]

METRICS: tuple[str, ...] = (
    "MSE", "PSNR", "SNR", "SC", "MD", "AD", "NAE", "RAMD", "LMSE",  # pixel difference
    "NXC", "MAS", "MAMS",  # correlation
    "TED", "TCD",  # edges and corners
    "SME", "SPE",  # spectral
    "GME", "GPE",  # gradient
    "SSIM", "VIF", "RRED",  # structural and information-theoretic
    "JQI", "HLFI", "BIQI", "NIQE",  # no-reference
)  # fmt: skip
"""Feature order of the classifier: Galbally et al.'s Table I (the issue's "MAMM" is the paper's MAS)."""

BLUR_KSIZE = 5
PSNR_CAP_DB = 100.0
"""PSNR and SNR of identical images are infinite; capped here so the classifier always sees a number."""
RAMD_R = 10
_EPS = 1e-12
_MAX_PX = 255.0


@lru_cache(maxsize=64)
def _scalar(value: float) -> FloatArray:
    """`value` as a scalar operand of OpenCV's arithmetic (a 1-element float64 array, which OpenCV treats as
    a scalar like a Python float); OpenCV's type stubs accept only arrays there. Cached and read-only: the
    same few constants are used for every image."""
    out = np.full(1, value, np.float64)
    out.flags.writeable = False
    return out


_CvArray = npt.NDArray[np.integer[Any] | np.floating[Any]]
"""What OpenCV's stubs take and return."""


def _plus(a: _CvArray, value: float, dst: _CvArray | None = None) -> Grey:
    """a + value, elementwise, as one addWeighted pass (a * 1 + a * 0 + value, the same float32 sum for
    finite a): OpenCV's add with a scalar operand takes a slower broadcasting path, about twice the time."""
    return _f32(cv2.addWeighted(a, 1.0, a, 0.0, value, dst=dst))


def _f32(a: npt.NDArray[np.generic]) -> Grey:
    """The same array typed as float32 (no copy when it already is): OpenCV's stubs return untyped arrays."""
    return np.asarray(a, dtype=np.float32)


def grey_image(rgb: npt.NDArray[np.uint8]) -> Grey:
    """RGB uint8 (H, W, 3) to grey float32 (H, W) with ITU-R 601 weights (OpenCV's RGB2GRAY)."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def blur(grey: Grey) -> Grey:
    """The distorted copy Î: 5x5 Gaussian blur, sigma 0 (OpenCV derives 1.1), reflected borders."""
    return _f32(cv2.GaussianBlur(grey, (BLUR_KSIZE, BLUR_KSIZE), 0))


# --- CDF 9/7 wavelet (BIQI's basis, also used by RRED) -------------------------------------------------

_CDF97_LO = np.array(
    [0.026748757411, -0.016864118443, -0.078223266529, 0.266864118443, 0.602949018236,
     0.266864118443, -0.078223266529, -0.016864118443, 0.026748757411], dtype=np.float32,
)  # fmt: skip
_CDF97_HI = np.array(
    [0.091271763114, -0.057543526229, -0.591271763114, 1.115087052457, -0.591271763114,
     -0.057543526229, 0.091271763114], dtype=np.float32,
)  # fmt: skip


def wavelet_bands(grey: Grey, levels: int = 3) -> list[tuple[Grey, Grey, Grey]]:
    """(LH, HL, HH) detail bands per level, finest first: separable CDF 9/7 analysis, decimated by 2."""
    bands: list[tuple[Grey, Grey, Grey]] = []
    low = grey
    for _ in range(levels):
        if min(low.shape) < 8:
            break
        # One-dimensional correlations (filter2D with a 1 x n or n x 1 kernel: a single pass each). The
        # column-decimated rows are made contiguous once here; OpenCV would copy them for each filter.
        rows_lo = np.ascontiguousarray(cv2.filter2D(low, cv2.CV_32F, _CDF97_LO[None, :])[:, ::2])
        rows_hi = np.ascontiguousarray(cv2.filter2D(low, cv2.CV_32F, _CDF97_HI[None, :])[:, ::2])
        lh = cv2.filter2D(rows_lo, cv2.CV_32F, _CDF97_HI[:, None])[::2]
        hl = cv2.filter2D(rows_hi, cv2.CV_32F, _CDF97_LO[:, None])[::2]
        hh = cv2.filter2D(rows_hi, cv2.CV_32F, _CDF97_HI[:, None])[::2]
        low = cv2.filter2D(rows_lo, cv2.CV_32F, _CDF97_LO[:, None])[::2]  # type: ignore[assignment]
        low = _f32(low)
        bands.append((_f32(lh), _f32(hl), _f32(hh)))
    return bands


# --- generalised Gaussian fits (BIQI, NIQE) ------------------------------------------------------------

_SHAPES = np.arange(0.2, 10.0005, 0.001)
_LGAMMA = np.vectorize(math.lgamma)
# GGD: E[x^2] / E[|x|]^2 = G(1/a) G(3/a) / G(2/a)^2, decreasing in the shape a.
_GGD_RATIO = np.exp(_LGAMMA(1 / _SHAPES) + _LGAMMA(3 / _SHAPES) - 2 * _LGAMMA(2 / _SHAPES))
# AGGD (Lasmar et al.): G(2/a)^2 / (G(1/a) G(3/a)), increasing in a.
_AGGD_RATIO = np.exp(2 * _LGAMMA(2 / _SHAPES) - _LGAMMA(1 / _SHAPES) - _LGAMMA(3 / _SHAPES))


def _lgamma(x: FloatArray) -> FloatArray:
    """math.lgamma elementwise (a list comprehension: several times faster than np.vectorize here)."""
    return np.array([math.lgamma(v) for v in x.ravel().tolist()], np.float64).reshape(x.shape)


def ggd_fit(x: npt.NDArray[np.floating], axis: int = -1) -> tuple[FloatArray, FloatArray]:
    """Zero-mean generalised Gaussian (shape, variance) by moment matching, along `axis`, vectorised."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 1 and x.size:
        # One band (BIQI): OpenCV's L1 and squared-L2 norms accumulate in double without a float64 copy.
        return _band_ggd(x)
    x64 = np.asarray(x, dtype=np.float64)
    var = np.mean(x64 * x64, axis=axis)
    mean_abs = np.mean(np.abs(x64), axis=axis)
    return _ggd_shape(var, mean_abs), var


def _band_ggd(x: Grey) -> tuple[FloatArray, FloatArray]:
    """ggd_fit of all values of one float32 band (any shape, row-strided views too: no copy), with
    OpenCV's L1 and squared-L2 norms, which accumulate in double."""
    var = np.asarray(cv2.norm(x, cv2.NORM_L2SQR) / x.size, np.float64)
    mean_abs = np.asarray(cv2.norm(x, cv2.NORM_L1) / x.size, np.float64)
    return _ggd_shape(var, mean_abs), var


def _ggd_shape(var: FloatArray, mean_abs: FloatArray) -> FloatArray:
    """The GGD shape whose E[x^2] / E[|x|]^2 is var / mean_abs^2 (interpolated on the shape table)."""
    rho = var / np.maximum(mean_abs * mean_abs, _EPS)
    # _GGD_RATIO decreases, so search the reversed (increasing) table.
    return np.asarray(np.interp(rho, _GGD_RATIO[::-1], _SHAPES[::-1]), np.float64)


def aggd_fit(
    x: npt.NDArray[np.floating], axis: int = -1
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Asymmetric GGD (shape, mean, left variance, right variance) by moment matching, vectorised."""
    x64 = np.asarray(x, dtype=np.float64)
    neg = x64 < 0
    pos = x64 > 0
    left_sq = np.sum(np.where(neg, x64 * x64, 0.0), axis=axis)
    right_sq = np.sum(np.where(pos, x64 * x64, 0.0), axis=axis)
    return _aggd_from_moments(
        left_sq, right_sq, np.sum(neg, axis=axis), np.sum(pos, axis=axis),
        np.mean(np.abs(x64), axis=axis), np.mean(x64 * x64, axis=axis),
    )  # fmt: skip


def _aggd_from_moments(
    left_sq: FloatArray,
    right_sq: FloatArray,
    n_neg: npt.NDArray[np.integer],
    n_pos: npt.NDArray[np.integer],
    mean_abs: FloatArray,
    mean_sq: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """AGGD parameters from the sums of squares on each side, the counts, E|x| and E[x^2] (Lasmar et al.)."""
    left_var = left_sq / np.maximum(n_neg, 1)
    right_var = right_sq / np.maximum(n_pos, 1)
    left_std, right_std = np.sqrt(left_var), np.sqrt(right_var)
    gamma_hat = left_std / np.maximum(right_std, _EPS)
    r_hat = mean_abs * mean_abs / np.maximum(mean_sq, _EPS)
    big_r = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / np.maximum((gamma_hat**2 + 1) ** 2, _EPS)
    shape = np.interp(big_r, _AGGD_RATIO, _SHAPES)
    lg1, lg2, lg3 = _lgamma(np.stack([1 / shape, 2 / shape, 3 / shape]))
    mean = (right_std - left_std) * np.exp(lg2 - lg1) * np.exp(0.5 * (lg1 - lg3))
    return shape, mean, left_var, right_var


# --- BIQI and NIQE parameters --------------------------------------------------------------------------

BIQI_DISTORTIONS: tuple[str, ...] = ("jpeg", "jpeg2000", "noise", "blur")


@dataclass(frozen=True, slots=True)
class BiqiModel:
    """BIQI's two stages as arrays: a softmax distortion classifier, one linear quality regressor per class.

    Inputs are the 18 wavelet statistics of `biqi_features` standardised with feature_mean/feature_scale;
    BIQI = sum_k P(distortion k) * quality_k, quality on 0 (pristine) .. 100 (worst), as in Moorthy and Bovik.
    """

    feature_mean: FloatArray  # (18,)
    feature_scale: FloatArray  # (18,)
    class_coef: FloatArray  # (K, 18)
    class_intercept: FloatArray  # (K,)
    quality_coef: FloatArray  # (K, 18)
    quality_intercept: FloatArray  # (K,)

    def score(self, features: FloatArray) -> float:
        z = (np.asarray(features, np.float64) - self.feature_mean) / self.feature_scale
        logits = self.class_coef @ z + self.class_intercept
        p = np.exp(logits - logits.max())
        p /= p.sum()
        quality = np.clip(self.quality_coef @ z + self.quality_intercept, 0.0, 100.0)
        return float(p @ quality)

    def arrays(self, prefix: str = "biqi_") -> dict[str, FloatArray]:
        return {prefix + k: np.asarray(getattr(self, k)) for k in self.__slots__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[np.float64]], prefix: str = "biqi_") -> BiqiModel:
        return cls(**{k: np.asarray(arrays[prefix + k], np.float64) for k in cls.__slots__})


NIQE_FEATURES = 36
"""Features per NIQE patch: 18 at each of two scales."""


@dataclass(frozen=True, slots=True)
class NiqeModel:
    """NIQE's pristine multivariate Gaussian: mean (36,) and covariance (36, 36) of sharp-patch features."""

    mean: FloatArray
    cov: FloatArray

    def arrays(self, prefix: str = "niqe_") -> dict[str, FloatArray]:
        return {prefix + "mean": self.mean, prefix + "cov": self.cov}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[np.float64]], prefix: str = "niqe_") -> NiqeModel:
        return cls(
            np.asarray(arrays[prefix + "mean"], np.float64), np.asarray(arrays[prefix + "cov"], np.float64)
        )

    @classmethod
    def fit(cls, patch_features: FloatArray) -> NiqeModel:
        """The MVG of pristine patch features (n_patches, 36)."""
        if patch_features.shape[0] < 2:
            raise ValueError("NIQE needs at least two pristine patches")
        return cls(patch_features.mean(axis=0), np.cov(patch_features, rowvar=False))

    def distance(self, patch_features: FloatArray) -> float:
        """NIQE: Mahalanobis-like distance between this MVG and the image's patch MVG (Mittal et al. 2013)."""
        mu = patch_features.mean(axis=0)
        cov = np.cov(patch_features, rowvar=False) if patch_features.shape[0] > 1 else np.zeros_like(self.cov)
        d = self.mean - mu
        return float(np.sqrt(max(d @ np.linalg.pinv((self.cov + cov) / 2.0) @ d, 0.0)))


NIQE_PATCH = 96
NIQE_SHARPNESS = 0.75
"""Pristine patches are those whose mean local deviation is at least this share of the image's sharpest."""


def _mscn(grey: Grey) -> tuple[Grey, Grey]:
    """Mean-subtracted contrast-normalised coefficients and the local deviation (7x7 Gaussian, sigma 7/6)."""
    mu = _f32(cv2.GaussianBlur(grey, (7, 7), 7.0 / 6.0))
    var = _f32(cv2.GaussianBlur(cv2.multiply(grey, grey), (7, 7), 7.0 / 6.0))
    mu_sq = cv2.multiply(mu, mu)
    sigma = cv2.sqrt(cv2.absdiff(var, mu_sq, dst=var), dst=var)
    centred = cv2.subtract(grey, mu, dst=mu)
    # mu_sq is free now: reuse it for sigma + 1, the denominator.
    cv2.divide(centred, _plus(sigma, 1.0, dst=mu_sq), dst=centred)
    return _f32(centred), _f32(sigma)


def _separable(a: Grey, k: npt.NDArray[np.float32]) -> Grey:
    """`a` filtered with the symmetric kernel k along rows, then along columns (reflected borders).

    Two one-dimensional filter2D passes rather than sepFilter2D/GaussianBlur: the same operations in the
    same order, but about 15% less CPU per map inside the feature pipeline (measured: 0.8 ms per image
    in VIF, 0.5 ms in SSIM). The values differ from sepFilter2D's only in float32 rounding (the order in
    which each pass adds its taps).
    """
    return _f32(cv2.filter2D(cv2.filter2D(a, cv2.CV_32F, k[None, :]), cv2.CV_32F, k[:, None]))


def _block_sums(a: npt.NDArray[np.float32] | npt.NDArray[np.uint8], size: int) -> FloatArray:
    """Sums over each size x size block of a (k, H, W), H and W multiples of size, as float64 (k, n_blocks).

    cv2.reduce adds each run of `size` pixels of a row in double precision (several times faster than a
    NumPy reduction over two strided axes), then the runs are added down each block column. uint8 maps
    (0/1 masks) are counted in int32.
    """
    k, h, w = a.shape
    # Counts (uint8 masks) add exactly in int32, which OpenCV vectorises; uint8 -> double does not.
    depth = cv2.CV_32S if a.dtype == np.uint8 else cv2.CV_64F
    runs = np.asarray(cv2.reduce(a.reshape(-1, size), 1, cv2.REDUCE_SUM, dtype=depth), np.float64)
    return runs.reshape(k, h // size, size, w // size).sum(axis=2).reshape(k, -1)


def _patch_means(a: Grey, size: int) -> FloatArray:
    """Mean of each non-overlapping size x size patch of `a` (row-major patch order), float64."""
    ny, nx = a.shape[0] // size, a.shape[1] // size
    block = np.ascontiguousarray(a[: ny * size, : nx * size])
    return _block_sums(block[None], size)[0] / (size * size)


def _block_moments(x: npt.NDArray[np.float32], size: int) -> list[FloatArray]:
    """Per size x size block of each map in x (k, H, W): sums of x^2 left and right of 0, counts of
    negative and positive values, mean |x| and mean x^2, as (k, n_blocks) arrays (the AGGD moments)."""
    n = size * size
    positive = x > 0
    n_pos = _block_sums(positive.view(np.uint8), size)
    n_neg = _block_sums((x < 0).view(np.uint8), size)
    mean_abs = _block_sums(np.abs(x), size) / n
    sq = x * x
    total_sq = _block_sums(sq, size)
    sq *= positive
    right_sq = _block_sums(sq, size)
    return [total_sq - right_sq, right_sq, n_neg, n_pos, mean_abs, total_sq / n]


# Neighbours of NIQE's paired products: right, below, below-right, below-left.
_NIQE_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def niqe_patch_features(grey: Grey) -> tuple[FloatArray, FloatArray]:
    """Per-patch NIQE features (n, 36) over two scales, and each patch's sharpness (n,).

    The patch side is 96 px (Mittal et al.), reduced for small images so that at least 2x2 patches fit.
    Per scale: AGGD (shape, variance) of the MSCN coefficients, then AGGD (shape, mean, left and right
    variance) of their products with the right, lower, lower-right and lower-left neighbours (wrapping
    around at the image border).
    """
    size = max(8, min(NIQE_PATCH, min(grey.shape) // 2))
    size -= size % 2
    feats: list[FloatArray] = []
    sharpness: FloatArray | None = None
    image = grey
    for scale in (1, 2):
        if scale == 2:
            image = _f32(
                cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_CUBIC)
            )
        side = size // scale
        m, sigma = _mscn(image)
        h, w = (m.shape[0] // side) * side, (m.shape[1] // side) * side
        if sharpness is None:
            sharpness = _patch_means(sigma, side)
        padded = cv2.copyMakeBorder(m, 0, 1, 1, 1, cv2.BORDER_WRAP)
        # One band of patch rows at a time, so the five maps and their temporaries stay in the CPU cache.
        bands = []
        maps = np.empty((5, side, w), np.float32)
        for r0 in range(0, h, side):
            rows = m[r0 : r0 + side, :w]
            maps[0] = rows
            for i, (dy, dx) in enumerate(_NIQE_SHIFTS, start=1):
                cv2.multiply(rows, padded[r0 + dy : r0 + dy + side, 1 + dx : 1 + dx + w], dst=maps[i])
            bands.append(_block_moments(maps, side))
        moments = (np.concatenate(parts, axis=1) for parts in zip(*bands, strict=True))
        shape, mean, lvar, rvar = _aggd_from_moments(*moments)
        feats += [shape[0], (lvar[0] + rvar[0]) / 2.0]
        for k in range(1, 5):
            feats += [shape[k], mean[k], lvar[k], rvar[k]]
    assert sharpness is not None
    n = min(len(f) for f in feats)
    return np.stack([f[:n] for f in feats], axis=1), sharpness[:n]


def pristine_patches(features: FloatArray, sharpness: FloatArray) -> FloatArray:
    """The patches NIQE counts as pristine: sharpness >= NIQE_SHARPNESS x the image's sharpest patch."""
    return features[sharpness >= NIQE_SHARPNESS * sharpness.max(initial=0.0)]


def biqi_features(grey: Grey, bands: list[tuple[Grey, Grey, Grey]] | None = None) -> FloatArray:
    """18 BIQI statistics: GGD variance and shape of the 9 CDF 9/7 detail bands (3 levels x 3 orientations).

    The variance enters as log(1 + var), so the classifier sees comparable magnitudes across levels.
    `bands` are `wavelet_bands(grey, 3)` when the caller already has them.
    """
    out: list[float] = []
    for level in bands if bands is not None else wavelet_bands(grey, 3):
        for band in level:
            shape, var = _band_ggd(band)
            out += [float(np.log1p(var)), float(shape)]
    out += [0.0] * (18 - len(out))  # images too small for three levels
    return np.asarray(out, np.float64)


# --- the per-image computation -------------------------------------------------------------------------


class _Pair:
    """I and Î with lazily computed, shared intermediates (each computed at most once per image)."""

    def __init__(self, ref: Grey, test: Grey) -> None:
        if ref.shape != test.shape or ref.ndim != 2:
            raise ValueError(f"need two 2-D images of one shape, got {ref.shape} and {test.shape}")
        self.ref = ref.astype(np.float32, copy=False)
        self.test = test.astype(np.float32, copy=False)
        self.n_px = float(ref.size)

    @cached_property
    def diff(self) -> Grey:
        return self.ref - self.test

    @cached_property
    def abs_diff(self) -> Grey:
        return np.abs(self.diff)

    @cached_property
    def sum_sq_diff(self) -> float:
        d = self.diff.ravel()
        return float(np.dot(d, d))

    @cached_property
    def sum_sq_ref(self) -> float:
        r = self.ref.ravel()
        return float(np.dot(r, r))

    @cached_property
    def spectra(self) -> tuple[_HalfSpectrum, _HalfSpectrum]:
        """Half DFTs of I and Î (see _HalfSpectrum), cropped to even sides first (at most one row and
        column dropped) for OpenCV's packed real DFT, which is several times faster than its complex output.

        A real image's DFT is conjugate-symmetric, so magnitudes and phase differences summed over the
        half spectrum with weight 2 (1 for the DC and Nyquist columns) equal the full-spectrum sums.
        """
        h, w = self.ref.shape[0] & ~1, self.ref.shape[1] & ~1
        return _HalfSpectrum.of(self.ref[:h, :w]), _HalfSpectrum.of(self.test[:h, :w])

    @cached_property
    def row_sums_sq(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per row: sum I^2, sum Î^2 and sum (I - Î)^2, accumulated in double (MAS and MAMS)."""
        ref_sq, test_sq, _ = self.products
        d = self.diff
        return cast(
            tuple[FloatArray, FloatArray, FloatArray],
            tuple(
                np.asarray(cv2.reduce(m, 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F), np.float64).ravel()
                for m in (ref_sq, test_sq, cv2.multiply(d, d))
            ),
        )

    @cached_property
    def row_angles(self) -> FloatArray:
        """Angle between each row of I and of Î, scaled to 0..1 (see _row_angles)."""
        rr, tt, dd = self.row_sums_sq
        rn, tn = np.sqrt(rr), np.sqrt(tt)
        # The chord |a - b|^2 between the unit rows a = r/|r| and b = t/|t| is
        # (|r - t|^2 - (|r| - |t|)^2) / (|r| |t|), and |a + b|^2 = 4 - |a - b|^2. Both terms of the
        # difference are sums in double, so a small angle keeps its precision.
        zero_r, zero_t = rn < 1e-6, tn < 1e-6
        either = zero_r | zero_t
        with np.errstate(divide="ignore", invalid="ignore"):
            chord_sq = np.clip((dd - (rn - tn) ** 2) / np.where(either, 1.0, rn * tn), 0.0, 4.0)
        # A zero row's unit vector is 0: two zero rows have angle 0, one zero row |a - b| = |a + b| = 1.
        special = np.where(zero_r & zero_t, 0.0, 1.0)
        chord_sq = np.where(either, special, chord_sq)
        angle = np.arctan2(np.sqrt(chord_sq), np.sqrt(np.where(either, special, 4.0 - chord_sq)))
        return 4.0 / np.pi * angle

    @cached_property
    def ref_bands(self) -> list[tuple[Grey, Grey, Grey]]:
        """I's CDF 9/7 detail bands over 3 levels (RRED uses the finest, BIQI all)."""
        return wavelet_bands(self.ref, 3)

    @cached_property
    def gradients(self) -> tuple[Grey, Grey, Grey, Grey]:
        """Sobel x and y gradients of I and Î (3x3, divided by 8 so they are per-pixel differences)."""
        out = []
        for img in (self.ref, self.test):
            out.append(cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=0.125))
            out.append(cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=0.125))
        return _f32(out[0]), _f32(out[1]), _f32(out[2]), _f32(out[3])

    @cached_property
    def products(self) -> tuple[Grey, Grey, Grey]:
        """I^2, Î^2 and I Î (SSIM and VIF filter each of them)."""
        return (
            _f32(cv2.multiply(self.ref, self.ref)),
            _f32(cv2.multiply(self.test, self.test)),
            _f32(cv2.multiply(self.ref, self.test)),
        )

    @cached_property
    def gradient_products(self) -> tuple[Grey, Grey, Grey, Grey]:
        """gx^2, gy^2 of I and tx^2, ty^2 of Î (the squared magnitudes and TCD's Harris matrices use them)."""
        return cast(tuple[Grey, Grey, Grey, Grey], tuple(_f32(cv2.multiply(g, g)) for g in self.gradients))

    @cached_property
    def gradient_sq(self) -> tuple[Grey, Grey]:
        """Squared Sobel gradient magnitudes gx^2 + gy^2 of I and Î (TED, GME and GPE share them)."""
        gxx, gyy, txx, tyy = self.gradient_products
        return _f32(cv2.add(gxx, gyy)), _f32(cv2.add(txx, tyy))

    @cached_property
    def spectrum_magnitudes(self) -> tuple[tuple[Grey, Grey], tuple[Grey, Grey]]:
        """(|F| inner columns, |F| DC and Nyquist columns) of I and of Î (SME and HLFI share them)."""
        f, g = self.spectra
        return (np.abs(f.inner), np.abs(f.edges)), (np.abs(g.inner), np.abs(g.edges))


@dataclass(frozen=True, slots=True)
class _HalfSpectrum:
    """np.fft.rfft2 of an even-sized float32 image (m, n), read from OpenCV's CCS-packed real DFT without
    unpacking it: `inner` holds columns 1 .. n/2 - 1 (each stands for itself and its mirror, weight 2) as a
    complex64 view of the packed (re, im) pairs; `edges` the DC and Nyquist columns (weight 1), unpacked
    from the 1-D real spectra packed down the first and last columns, as (m, 2)."""

    inner: npt.NDArray[np.complex64]
    edges: npt.NDArray[np.complex64]
    shape: tuple[int, int]
    packed: Grey  # OpenCV's CCS-packed DFT itself (m, n), which `inner` views

    @classmethod
    def of(cls, img: Grey) -> _HalfSpectrum:
        m, n = img.shape
        ccs = _f32(cv2.dft(np.ascontiguousarray(img)))
        edges = np.empty((m, 2), np.complex64)
        for col, src in ((0, 0), (1, n - 1)):
            c = ccs[:, src]
            edges[0, col] = c[0]
            edges[m // 2, col] = c[m - 1]
            re, im = c[1 : m - 1 : 2], c[2 : m - 1 : 2]
            edges[1 : m // 2, col] = re + 1j * im
            edges[m // 2 + 1 :, col] = (re - 1j * im)[::-1]
        return cls(ccs[:, 1 : n - 1].view(np.complex64), edges, (m, n), ccs)

    def half_sum(self, inner: npt.NDArray[np.floating], edges: npt.NDArray[np.floating]) -> float:
        """The full-spectrum sum of a per-coefficient quantity given on the inner and edge columns."""
        inner_sum = cv2.sumElems(inner)[0] if inner.size else 0.0
        return 2.0 * inner_sum + float(edges.sum(dtype=np.float64))


def _sq_norm(a: npt.NDArray[np.float32]) -> float:
    """Sum of squares, accumulated in double (OpenCV's squared L2 norm); 0 for an empty array."""
    return float(cv2.norm(a, cv2.NORM_L2SQR)) if a.size else 0.0


def _capped_db(ratio_num: float, ratio_den: float) -> float:
    if ratio_den <= 0.0:
        return PSNR_CAP_DB
    if ratio_num <= 0.0:
        return 0.0
    return min(PSNR_CAP_DB, 10.0 * math.log10(ratio_num / ratio_den))


def _mse(p: _Pair) -> float:
    return p.sum_sq_diff / p.n_px


def _psnr(p: _Pair) -> float:
    """10 log10(max(I^2) / MSE), capped at PSNR_CAP_DB (identical images)."""
    peak = float(p.ref.max()) ** 2
    return _capped_db(peak, _mse(p))


def _snr(p: _Pair) -> float:
    """10 log10(sum I^2 / (N M MSE)), capped like PSNR."""
    return _capped_db(p.sum_sq_ref, p.sum_sq_diff)


def _sc(p: _Pair) -> float:
    """Structural content sum I^2 / sum Î^2; 1 for two black images."""
    t = p.test.ravel()
    den = float(np.dot(t, t))
    if den <= 0.0:
        return 1.0 if p.sum_sq_ref <= 0.0 else PSNR_CAP_DB
    return p.sum_sq_ref / den


# Sums and norms below use OpenCV, which accumulates float32 maps in double like NumPy's dtype=float64
# reductions, without their float64 conversion pass.


def _md(p: _Pair) -> float:
    return float(cv2.norm(p.diff, cv2.NORM_INF))


def _ad(p: _Pair) -> float:
    return cv2.sumElems(p.diff)[0] / p.n_px


def _nae(p: _Pair) -> float:
    den = cv2.norm(p.ref, cv2.NORM_L1)
    return cv2.norm(p.diff, cv2.NORM_L1) / den if den > 0 else 0.0


def _ramd(p: _Pair) -> float:
    """Mean of the R = 10 largest absolute differences.

    The R largest values lie in the R rows with the largest row maxima, so only those rows are partitioned.
    """
    a = p.abs_diff
    r = min(RAMD_R, a.size)
    rows = a[np.argsort(a.max(axis=1))[-r:]].ravel() if a.shape[0] > r else a.ravel()
    return float(np.partition(rows, rows.size - r)[rows.size - r :].mean(dtype=np.float64))


def _lmse(p: _Pair) -> float:
    """sum (h(I) - h(Î))^2 / sum h(I)^2 with h the 4-neighbour Laplacian; h is linear, so h(I - Î)."""
    lap_ref = cv2.Laplacian(p.ref, cv2.CV_32F, ksize=1).ravel()
    lap_diff = cv2.Laplacian(p.diff, cv2.CV_32F, ksize=1).ravel()
    den = float(np.dot(lap_ref, lap_ref))
    return float(np.dot(lap_diff, lap_diff)) / den if den > 0 else 0.0


def _nxc(p: _Pair) -> float:
    if p.sum_sq_ref <= 0.0:
        return 1.0
    return float(np.dot(p.ref.ravel(), p.test.ravel())) / p.sum_sq_ref


def _row_angles(p: _Pair) -> FloatArray:
    """Angle between each row of I and of Î as vectors, scaled to 0..1 (2/pi x angle), as in Galbally's code.

    (Per-pixel angles of grey values are always 0, so rows are the vectors.) The angle is computed as
    2 atan2(|a - b|, |a + b|) of the unit rows, which stays accurate near 0 where arccos(cos) does not;
    |a - b| comes from per-row sums in double (Pair.row_angles), without normalising the rows.
    """
    return p.row_angles


def _mas(p: _Pair) -> float:
    """Mean angle similarity: 1 - mean row angle."""
    return float(1.0 - _row_angles(p).mean())


def _mams(p: _Pair) -> float:
    """Mean angle-magnitude similarity: mean of 1 - (1 - angle)(1 - |row difference| / (255 sqrt(W)))."""
    magnitude = np.sqrt(p.row_sums_sq[2]) / (_MAX_PX * math.sqrt(p.ref.shape[1]))
    return float(np.mean(1.0 - (1.0 - _row_angles(p)) * (1.0 - magnitude)))


def _edges(gxx: Grey, gyy: Grey, mag: Grey, cutoff: float) -> npt.NDArray[np.uint8]:
    """Thinned Sobel edges as Matlab's edge(..., 'sobel'): squared magnitude `mag` (gx^2 + gy^2) over
    cutoff, local maximum across the edge. A uint8 mask, 255 on edges (OpenCV's compare/bitwise ops).

    The edge direction compares |gx| with |gy| through the squares gxx = gx^2, gyy = gy^2 (rounding to
    float32 keeps the order of the squares of two different magnitudes, so the comparisons agree).
    """
    # Strict local maximum across the edge; a pixel on the border compares with its one neighbour.
    horizontal = cv2.compare(gxx, gyy, cv2.CMP_GE)
    for out, a, b in (
        (horizontal[:, 1:], mag[:, 1:], mag[:, :-1]),
        (horizontal[:, :-1], mag[:, :-1], mag[:, 1:]),
    ):
        cv2.bitwise_and(out, cv2.compare(a, b, cv2.CMP_GT), dst=out)
    vertical = cv2.compare(gyy, gxx, cv2.CMP_GE)
    for out, a, b in ((vertical[1:], mag[1:], mag[:-1]), (vertical[:-1], mag[:-1], mag[1:])):
        cv2.bitwise_and(out, cv2.compare(a, b, cv2.CMP_GT), dst=out)
    return np.asarray(
        cv2.bitwise_and(cv2.compare(mag, _scalar(cutoff), cv2.CMP_GT), cv2.bitwise_or(horizontal, vertical)),
        np.uint8,
    )


def _ted(p: _Pair) -> float:
    """Total edge difference: share of pixels whose edge label differs.

    Both edge maps use I's threshold (Matlab's default, 4 x mean squared magnitude), so edges the blur
    weakens below it count as lost.
    """
    gxx, gyy, txx, tyy = p.gradient_products
    mag_ref, mag_test = p.gradient_sq
    cutoff = 4.0 * cv2.sumElems(mag_ref)[0] / p.n_px
    changed = cv2.bitwise_xor(_edges(gxx, gyy, mag_ref, cutoff), _edges(txx, tyy, mag_test, cutoff))
    return float(cv2.countNonZero(changed)) / p.n_px


def _harris(gx: Grey, gy: Grey, gxx: Grey, gyy: Grey) -> Grey:
    """Harris response det(M) - 0.04 tr(M)^2, M the gradient products summed over 3x3 (shared gradients
    gx, gy and their squares gxx, gyy)."""
    sxx = _f32(cv2.boxFilter(gxx, cv2.CV_32F, (3, 3), normalize=False))
    syy = _f32(cv2.boxFilter(gyy, cv2.CV_32F, (3, 3), normalize=False))
    sxy = _f32(cv2.boxFilter(cv2.multiply(gx, gy), cv2.CV_32F, (3, 3), normalize=False))
    trace = cv2.add(sxx, syy)
    det = cv2.multiply(sxx, syy, dst=sxx)
    cv2.subtract(det, cv2.multiply(sxy, sxy, dst=sxy), dst=det)
    cv2.multiply(trace, trace, dst=trace)
    return _f32(cv2.scaleAdd(trace, -0.04, det, dst=det))


def _corner_count(response: Grey, threshold: float) -> int:
    """Local maxima (3x3) of the Harris response above `threshold`."""
    peaks = cv2.compare(response, cv2.dilate(response, np.ones((3, 3), np.uint8)), cv2.CMP_GE)
    return int(
        cv2.countNonZero(
            cv2.bitwise_and(peaks, cv2.compare(response, _scalar(threshold), cv2.CMP_GT), dst=peaks)
        )
    )


def _tcd(p: _Pair) -> float:
    """Total corner difference |N_I - N_Î| / max(N_I, N_Î): Harris corners above 1% of I's strongest.

    Both counts use I's threshold, so corners the blur weakens count as lost.
    """
    gx, gy, tx, ty = p.gradients
    gxx, gyy, txx, tyy = p.gradient_products
    ref_response = _harris(gx, gy, gxx, gyy)
    threshold = max(0.01 * cv2.minMaxLoc(ref_response)[1], 0.0)
    n_ref = _corner_count(ref_response, threshold)
    n_test = _corner_count(_harris(tx, ty, txx, tyy), threshold)
    top = max(n_ref, n_test)
    return abs(n_ref - n_test) / top if top else 0.0


def _sme(p: _Pair) -> float:
    """Spectral magnitude error: mean (|F| - |F̂|)^2 over the DFT of the whole image."""
    f, _ = p.spectra
    (ref_inner, ref_edges), (test_inner, test_edges) = p.spectrum_magnitudes
    d_edges = (ref_edges - test_edges).astype(np.float64).ravel()
    total = 2.0 * _sq_norm(np.subtract(ref_inner, test_inner)) + float(np.dot(d_edges, d_edges))
    return total / (f.shape[0] * f.shape[1])


GRADIENT_EPS = 0.01
"""Gradients weaker than this (grey levels per pixel) have no meaningful direction; GPE counts them as 0."""


def _gradient_phase_sq(ax: Grey, ay: Grey, bx: Grey, by: Grey, a_sq: Grey, b_sq: Grey) -> float:
    """Mean squared angle between gradient fields a and b, wrapped to [-pi, pi]; a_sq, b_sq: |a|^2, |b|^2.

    Where either gradient is below GRADIENT_EPS (flat areas) the angle is rounding noise, so it counts 0.
    The wrapped angle's magnitude is the phase of (a . b, |a x b|), which lies in [0, pi].
    """
    re = cv2.add(cv2.multiply(ax, bx), cv2.multiply(ay, by))
    im = cv2.absdiff(cv2.multiply(ay, bx), cv2.multiply(ax, by))
    phase = _f32(cv2.phase(re, im))
    # Defined where min(|a|^2, |b|^2) > eps^2: a 0/1 float mask (OpenCV's threshold is a strict >) zeroes
    # the other angles, so the sum of squares over all pixels is the sum over the defined ones.
    eps_sq = GRADIENT_EPS * GRADIENT_EPS
    defined = cv2.threshold(cv2.min(a_sq, b_sq, dst=re), eps_sq, 1.0, cv2.THRESH_BINARY)[1]
    cv2.multiply(phase, defined, dst=phase)
    return cv2.norm(phase, cv2.NORM_L2SQR) / phase.size  # accumulated in double


def _abs_phase(re: Grey, im: Grey) -> Grey:
    """|atan2(im, re)| in [0, pi], elementwise, to float32 precision (within 3e-7 rad of float64 atan2).

    OpenCV's phase is vectorised (NumPy's float32 arctan2 is a scalar loop, about 40x slower) but only
    accurate to about 2e-4 rad; one Newton step fixes that: with t0 its angle of (re, |im|), the residual
    angle is that of the vector turned back by t0, (re cos t0 + |im| sin t0, |im| cos t0 - re sin t0),
    which is within 2e-4 of 0, where atan(y / x) = y / x to 1e-11. OpenCV's sin and cos are accurate to
    7e-8. Where re = im = 0 the angle is 0, as atan2 gives (the turned vector is 0, divided by a floor).
    Overwrites `im` and `re`.
    """
    im = _f32(cv2.absdiff(im, _scalar(0.0), dst=im))  # |im| (the wrapped angle's magnitude)
    t0 = _f32(cv2.phase(re, im))  # in [0, pi] since im >= 0
    # No magnitude: OpenCV gives the unit vectors (cos, sin); its stubs do not list None there.
    cos, sin = cv2.polarToCart(None, t0)  # type: ignore[call-overload]
    x = cv2.add(cv2.multiply(re, cos), cv2.multiply(im, sin))
    y = cv2.subtract(cv2.multiply(im, cos, dst=im), cv2.multiply(re, sin, dst=re), dst=im)
    x = cv2.max(x, _scalar(1e-30))  # (cv2.max with a scalar ignores dst: OpenCV 5.1 returns a new array)
    return _f32(cv2.add(t0, cv2.divide(y, x, dst=x), dst=t0))


def _spe(p: _Pair) -> float:
    """Spectral phase error: mean squared phase difference of the DFTs, wrapped to [-pi, pi].

    The wrapped difference of the phases of F and G is the phase of F conj(G): OpenCV's mulSpectrums
    forms it on the packed spectra, and _abs_phase takes its magnitude.
    """
    f, g = p.spectra
    m, n = f.shape
    product = _f32(cv2.mulSpectrums(f.packed, g.packed, 0, conjB=True))
    # The inner columns' (re, im) pairs as two contiguous planes (NumPy's strided copy; cv2.split of the
    # two-channel view takes 15x as long).
    re, im = np.ascontiguousarray(product[:, 1 : n - 1 : 2]), np.ascontiguousarray(product[:, 2 : n - 1 : 2])
    inner = _sq_norm(_abs_phase(re, im)) if re.size else 0.0
    edges = np.angle(f.edges * np.conj(g.edges)).astype(np.float64)
    total = 2.0 * inner + float(np.dot(edges.ravel(), edges.ravel()))
    return total / (f.shape[0] * f.shape[1])


def _gme(p: _Pair) -> float:
    """Gradient magnitude error: mean (|G| - |Ĝ|)^2."""
    mag_ref, mag_test = p.gradient_sq
    d = cv2.subtract(cv2.sqrt(mag_ref), cv2.sqrt(mag_test))
    return float(np.dot(d.ravel(), d.ravel())) / p.n_px


def _gpe(p: _Pair) -> float:
    """Gradient phase error: mean squared (wrapped) gradient direction difference (see GRADIENT_EPS)."""
    gx, gy, tx, ty = p.gradients
    return _gradient_phase_sq(gx, gy, tx, ty, *p.gradient_sq)


def _ssim(p: _Pair) -> float:
    """Mean SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03), L = 255.

    Averaged over the window-valid region (5-pixel border dropped), as the reference code does. Whole-image
    maps with OpenCV arithmetic written into existing buffers: with freed maps reused (see
    liveness.memory.service_policy) this beats row strips, which recompute a halo of rows.
    """
    c1, c2 = (0.01 * _MAX_PX) ** 2, (0.03 * _MAX_PX) ** 2
    x, y = p.ref, p.test
    h, w = x.shape
    pad = 5 if min(h, w) > 10 else 0

    k = _gauss_kernel(11, 1.5)

    def g(a: Grey) -> Grey:
        return _separable(a, k)

    mx, my = g(x), g(y)
    sxx, syy, sxy = (g(a) for a in p.products)
    mxx = cv2.multiply(mx, mx)
    myy = cv2.multiply(my, my)
    mxy = cv2.multiply(mx, my, dst=mx)
    # num = (2 mxy + c1)(2 (sxy - mxy) + c2), den = (mxx + myy + c1)(sxx - mxx + syy - myy + c2).
    # addWeighted adds its constant before the second product (a fused multiply-add), so constants that
    # follow a cancelling difference are added separately, keeping that difference exact.
    num2 = cv2.addWeighted(sxy, 2.0, mxy, -2.0, 0.0, dst=sxy)
    _plus(num2, c2, dst=num2)
    num1 = cv2.addWeighted(mxy, 2.0, mxy, 0.0, c1, dst=mxy)
    cv2.subtract(sxx, mxx, dst=sxx)
    cv2.subtract(syy, myy, dst=syy)
    den2 = cv2.add(sxx, syy, dst=sxx)
    _plus(den2, c2, dst=den2)
    den1 = cv2.addWeighted(mxx, 1.0, myy, 1.0, c1, dst=mxx)
    cv2.multiply(num1, num2, dst=num1)
    cv2.multiply(den1, den2, dst=den1)
    mxy = cv2.divide(num1, den1, dst=num1)
    valid = mxy[pad : h - pad, pad : w - pad]
    return cv2.sumElems(valid)[0] / valid.size


def _gauss_kernel(n: int, sigma: float) -> npt.NDArray[np.float32]:
    return _f32(cv2.getGaussianKernel(n, sigma, cv2.CV_32F).ravel())


_VIF_FLOOR = float(np.nextafter(np.float32(1e-10), np.float32(0.0)))
"""The largest float32 below float32(1e-10): `x > _VIF_FLOOR` is the reference code's `x >= 1e-10` on float32
maps, which is how OpenCV's threshold (a strict comparison) reproduces it."""


def _vif_decimate(a: Grey, k: npt.NDArray[np.float32]) -> Grey:
    """VIF's downsampling: the 'valid' region of `a` filtered with k (rows and columns), every other row and
    column, without computing the rows and columns that are dropped.

    The even output rows are sum_m k[2m] a[2(i+m)] + sum_m k[2m+1] a[2(i+m)+1]: the even and odd input rows
    (row-strided views, no copy) filtered with the even and odd taps. The row filter then runs on those rows
    only, and every other column is kept. Half the work of filtering everything and decimating after.
    """
    n = k.size
    h, w = a.shape
    rows = (h - n) // 2 + 1
    even = cv2.filter2D(a[0::2], cv2.CV_32F, k[0::2, None], anchor=(0, 0))[:rows]
    odd = cv2.filter2D(a[1::2], cv2.CV_32F, k[1::2, None], anchor=(0, 0))[:rows]
    cols = cv2.filter2D(cv2.add(even, odd, dst=even), cv2.CV_32F, k[None, :], anchor=(0, 0))
    return np.ascontiguousarray(cols[:, : w - n + 1 : 2])


def vif_reference_sums(
    s1: npt.ArrayLike, s2: npt.ArrayLike, s12: npt.ArrayLike, sigma_nsq: float = 2.0
) -> tuple[float, float]:
    """One VIF scale's sums by the LIVE reference code's gain rules, plainly and in float64, from the local
    variances sigma1^2, sigma2^2 and the covariance sigma12: the statement of the rules `_vif_information`
    implements fast in float32. Not on the serving path: the tests and benchmarks/bench_iqa.py hold the fast
    code to it."""
    s1, s2, s12 = (np.array(a, np.float64) for a in (s1, s2, s12))
    s1, s2 = np.maximum(s1, 0), np.maximum(s2, 0)
    g = s12 / (s1 + 1e-10)
    sv = s2 - g * s12
    g[s1 < 1e-10] = 0
    sv[s1 < 1e-10] = s2[s1 < 1e-10]
    s1[s1 < 1e-10] = 0
    g[s2 < 1e-10] = 0
    sv[s2 < 1e-10] = 0
    sv[g < 0] = s2[g < 0]
    g[g < 0] = 0
    sv[sv <= 1e-10] = 1e-10
    info = float(np.sum(np.log10(1 + g * g * s1 / (sv + sigma_nsq))))
    return info, float(np.sum(np.log10(1 + s1 / sigma_nsq)))


def _vif_information(
    mu1: Grey, mu2: Grey, s1: Grey, s2: Grey, s12: Grey, sigma_nsq: float
) -> tuple[float, float]:
    """One VIF scale's sums (information in the distorted image, in the reference), log10 units, from the
    local means mu1, mu2 and the local means of I^2, Î^2 and I Î (s1, s2, s12); every map is overwritten.

    Where the reference code zeroes the gain (flat reference or distorted patch, negative gain) the
    information term is made 0 by the same conditions applied to the maps (threshold, max), so one plain
    sum replaces a masked mean.
    """
    tmp = cv2.multiply(mu1, mu1)
    cv2.subtract(s1, tmp, dst=s1)
    # sigma1^2, zero where below 1e-10 (the reference's flat-patch rule; negatives included).
    cv2.threshold(s1, _VIF_FLOOR, 0.0, cv2.THRESH_TOZERO, dst=s1)
    cv2.multiply(mu2, mu2, dst=tmp)
    cv2.subtract(s2, tmp, dst=s2)
    cv2.multiply(mu1, mu2, dst=tmp)
    cv2.subtract(s12, tmp, dst=s12)
    # A flat distorted patch (sigma2^2 < 1e-10) has gain 0: zero the covariance there.
    cv2.multiply(s12, cv2.threshold(s2, _VIF_FLOOR, 1.0, cv2.THRESH_BINARY, dst=tmp)[1], dst=s12)
    gain = cv2.divide(s12, _plus(s1, 1e-10, dst=mu1), dst=mu1)
    cv2.threshold(gain, 0.0, 0.0, cv2.THRESH_TOZERO, dst=gain)  # negative gains count 0
    sv = cv2.subtract(s2, cv2.multiply(gain, s12, dst=mu2), dst=s2)
    # The reference floors sv at 1e-10. Without it, a gain inflated by a sigma1^2 just above its floor
    # (float32 rounding near saturated pixels: sigma1^2 = 0.004 beside a covariance of 0.4) makes
    # sv + sigma_n^2 negative and the log NaN (19 of NUAA's 3491 images). cv2.max with a scalar ignores
    # dst (OpenCV 5.1), so its result is kept.
    sv = cv2.max(sv, _scalar(1e-10))
    _plus(sv, sigma_nsq, dst=sv)
    # g^2 sigma1^2 / (sv + sigma_n^2): 0 wherever the gain or sigma1^2 was zeroed above.
    cv2.multiply(gain, gain, dst=gain)
    cv2.multiply(gain, s1, dst=gain)
    cv2.divide(gain, sv, dst=gain)
    # log(1 + x) of x >= 0 with OpenCV's vectorised log; sums in double.
    cv2.log(_plus(gain, 1.0, dst=gain), dst=gain)
    num = cv2.sumElems(gain)[0] / math.log(10)
    cv2.log(cv2.addWeighted(s1, 1.0 / sigma_nsq, s1, 0.0, 1.0, dst=s1), dst=s1)
    den = cv2.sumElems(s1)[0] / math.log(10)
    return num, den


def _vif(p: _Pair) -> float:
    """Pixel-domain VIF (Sheikh and Bovik 2006, the 'vifp' of LIVE's code): 4 scales, sigma_n^2 = 2.

    Filters are 'valid' (no border), as in the reference: each filtered map is computed whole and only
    its valid region, which no border rule reaches, is used. The arithmetic is OpenCV's, written into
    existing buffers, on those valid-region views (OpenCV takes row-strided views without copying);
    the gain rules are in _vif_information.
    """
    sigma_nsq = 2.0
    ref, test = p.ref, p.test
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        k = _gauss_kernel(n, n / 5.0)
        half = n // 2

        def g(a: Grey, k: npt.NDArray[np.float32] = k, half: int = half) -> Grey:
            return _separable(a, k)[half : a.shape[0] - half, half : a.shape[1] - half]  # 'valid' region

        if scale > 1:
            if min(ref.shape) < n:
                break
            ref, test = _vif_decimate(ref, k), _vif_decimate(test, k)
        if min(ref.shape) <= n:
            break
        mu1, mu2 = g(ref), g(test)
        products = (
            p.products
            if scale == 1
            else (cv2.multiply(ref, ref), cv2.multiply(test, test), cv2.multiply(ref, test))
        )
        s1, s2, s12 = (g(_f32(a)) for a in products)
        scale_num, scale_den = _vif_information(mu1, mu2, s1, s2, s12, sigma_nsq)
        num += scale_num
        den += scale_den
    return num / den if den > 0 else 1.0


def _rred(p: _Pair) -> float:
    """Entropic differencing (Soundararajan and Bovik 2012) on the finest CDF 9/7 detail bands.

    Per coefficient: local variance s^2 over a 3x3 window, entropy term h = log(s^2 + 0.1) and weight
    log(1 + s^2); RRED = mean |w_I h_I - w_Î h_Î| averaged over the LH, HL and HH bands. This is the
    full-reference, single-scale form (no steerable pyramid or GSM fit).
    """
    ref_bands = p.ref_bands[0]
    (test_bands,) = wavelet_bands(p.test, 1)
    total = 0.0
    for a, b in zip(ref_bands, test_bands, strict=True):
        terms = []
        for band in (a, b):
            var = _f32(cv2.boxFilter(cv2.multiply(band, band), cv2.CV_32F, (3, 3)))
            weight = cv2.log(_plus(var, 1.0))  # log(1 + s^2); s^2 >= 0
            _plus(var, 0.1, dst=var)
            terms.append(cv2.multiply(weight, cv2.log(var, dst=var), dst=weight))
        total += cv2.norm(terms[0], terms[1], cv2.NORM_L1) / a.size  # sum |difference|, in double
    return total / 3.0


_JQI_ALPHA, _JQI_BETA = -245.9, 261.9
_JQI_GAMMAS = (-0.0240, 0.0160, 0.0064)


def _jqi_direction(x: Grey, axis: int) -> tuple[float, float, float]:
    """Blockiness B, activity A and zero-crossing rate Z along rows (axis 1) or columns (axis 0) (Wang,
    Sheikh, Bovik 2002). Differences and sign changes with OpenCV's arithmetic on row-strided views."""
    if x.shape[axis] < 2:
        return 0.0, 0.0, 0.0
    d = _f32(cv2.subtract(x[:, 1:], x[:, :-1]) if axis == 1 else cv2.subtract(x[1:], x[:-1]))
    boundary = d[:, 7::8] if axis == 1 else d[7::8]
    b = float(np.abs(boundary).mean(dtype=np.float64)) if boundary.size else 0.0
    a = 8.0 / 7.0 * cv2.norm(d, cv2.NORM_L1) / d.size - b / 7.0
    first, second = (d[:, :-1], d[:, 1:]) if axis == 1 else (d[:-1], d[1:])
    if not first.size:
        return b, a, 0.0
    product = cv2.multiply(first, second)
    z = float(cv2.countNonZero(cv2.compare(product, _scalar(0.0), cv2.CMP_LT))) / first.size
    return b, a, z


def _jqi(p: _Pair) -> float:
    """No-reference JPEG quality score S = alpha + beta B^g1 A^g2 Z^g3 (Wang, Sheikh, Bovik 2002)."""
    bh, ah, zh = _jqi_direction(p.ref, 1)
    bv, av, zv = _jqi_direction(p.ref, 0)
    b, a, z = ((bh + bv) / 2, (ah + av) / 2, (zh + zv) / 2)
    g1, g2, g3 = _JQI_GAMMAS
    floor = 1e-6  # a flat image has B = A = Z = 0; the power law is undefined there
    return _JQI_ALPHA + _JQI_BETA * max(b, floor) ** g1 * max(a, floor) ** g2 * max(z, floor) ** g3


def _hlfi(p: _Pair) -> float:
    """High-low frequency index |E_low - E_high| / E of I's DFT magnitude.

    Low frequencies: |u| <= 0.15 H/2 and |v| <= 0.15 W/2 around DC (the four corners of the unshifted DFT).
    """
    f, _ = p.spectra
    inner, edges = p.spectrum_magnitudes[0]
    m, n = f.shape
    low_rows = np.abs(np.fft.fftfreq(m)) <= 0.15 * 0.5
    low_inner_cols = np.fft.rfftfreq(n)[1 : n // 2] <= 0.15 * 0.5  # the DC column is low, Nyquist is not
    total = f.half_sum(inner, edges)
    low_inner = inner[low_rows][:, low_inner_cols]
    low = 2.0 * float(low_inner.sum(dtype=np.float64)) + float(edges[low_rows, 0].sum(dtype=np.float64))
    return abs(low - (total - low)) / total if total > 0 else 0.0


_FULL_REFERENCE: dict[str, Callable[[_Pair], float]] = {
    "MSE": _mse, "PSNR": _psnr, "SNR": _snr, "SC": _sc, "MD": _md, "AD": _ad, "NAE": _nae, "RAMD": _ramd,
    "LMSE": _lmse, "NXC": _nxc, "MAS": _mas, "MAMS": _mams, "TED": _ted, "TCD": _tcd, "SME": _sme,
    "SPE": _spe, "GME": _gme, "GPE": _gpe, "SSIM": _ssim, "VIF": _vif, "RRED": _rred, "JQI": _jqi,
    "HLFI": _hlfi,
}  # fmt: skip
MODEL_FREE: tuple[str, ...] = tuple(_FULL_REFERENCE)
"""The 23 metrics that need no fitted parameters (all but BIQI and NIQE), in METRICS order."""


def metric(name: str, ref: Grey, test: Grey) -> float:
    """One model-free metric of `test` against `ref` (both grey float 0..255, same shape)."""
    return _FULL_REFERENCE[name](_Pair(ref, test))


@dataclass(frozen=True, slots=True)
class RawFeatures:
    """What one image yields before BIQI and NIQE apply their fitted parameters (cacheable for training)."""

    model_free: FloatArray  # (23,) in MODEL_FREE order
    biqi: FloatArray  # (18,) BIQI wavelet statistics
    niqe_patches: FloatArray  # (n, 36) NIQE patch features
    niqe_sharpness: FloatArray  # (n,)


def raw_features(
    grey: Grey,
    timings_ms: dict[str, float] | None = None,
    clock: Callable[[], float] = perf_counter,
    measures: Collection[str] = METRICS,
) -> RawFeatures:
    """The per-image computation of `measures` (default: every one of METRICS); with `timings_ms`, each
    metric's cost (by `clock`, in seconds: wall time by default, time.process_time for CPU time) is added
    under its name in ms.

    A model-free measure left out is NaN in `model_free`; without BIQI or NIQE their statistics are empty.
    Shared intermediates are charged to the first metric that needs them.
    """
    pair = _Pair(grey, blur(grey))
    values = []
    for name, fn in _FULL_REFERENCE.items():
        if name not in measures:
            values.append(math.nan)
            continue
        start = clock()
        values.append(fn(pair))
        if timings_ms is not None:
            timings_ms[name] = timings_ms.get(name, 0.0) + (clock() - start) * 1e3
    start = clock()
    biqi = biqi_features(grey, pair.ref_bands) if "BIQI" in measures else np.zeros(0)
    mid = clock()
    patches, sharpness = (
        niqe_patch_features(grey) if "NIQE" in measures else (np.zeros((0, NIQE_FEATURES)), np.zeros(0))
    )
    end = clock()
    if timings_ms is not None:
        for name, ms in (("BIQI", (mid - start) * 1e3), ("NIQE", (end - mid) * 1e3)):
            if name in measures:
                timings_ms[name] = timings_ms.get(name, 0.0) + ms
    return RawFeatures(np.asarray(values, np.float64), biqi, patches, sharpness)


def combine(
    raw: RawFeatures,
    biqi_model: BiqiModel,
    niqe_model: NiqeModel | None,
    names: Sequence[str] = METRICS,
) -> FloatArray:
    """The features `names` (METRICS, or some of them in METRICS order), finite (non-finite values become 0;
    none is expected). `niqe_model` may be None when NIQE is not among them."""
    values = dict(zip(MODEL_FREE, raw.model_free.tolist(), strict=True))
    if "BIQI" in names:
        values["BIQI"] = biqi_model.score(raw.biqi)
    if "NIQE" in names:
        if niqe_model is None:
            raise ValueError("NIQE is among the features but no NIQE model was given")
        values["NIQE"] = niqe_model.distance(raw.niqe_patches)
    feats = np.array([values[n] for n in names], np.float64)
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)


def features(
    grey: Grey, biqi_model: BiqiModel, niqe_model: NiqeModel | None, names: Sequence[str] = METRICS
) -> FloatArray:
    """The Galbally features `names` of one grey image (all 25 by default), in METRICS order; only those
    are computed."""
    return combine(raw_features(grey, measures=names), biqi_model, niqe_model, names)


def check_feature_names(names: Sequence[str]) -> None:
    """ValueError unless `names` are some of METRICS, each once, in METRICS order."""
    if not names or tuple(m for m in METRICS if m in names) != tuple(names):
        raise ValueError(f"feature names {tuple(names)} are not some of {METRICS} in that order")
