"""Colour LBP and image-distortion measures of a face crop: the feature vector the texture test classifies.

Boulkenafet, Komulainen and Hadid (2015, "Face anti-spoofing based on color texture analysis") showed that
uniform LBP histograms computed separately on the HSV and YCbCr channels of the face separate prints and
screens from live skin far better than grey-level texture, and that the cue survives a change of camera and
session better than learned features trained on little data. A recaptured face loses fine chroma detail
(printer dithering, screen sub-pixels, the second camera's demosaicing) that luminance alone hides.

Beside the LBP histograms, 19 image-distortion measures of the same crop (Wen, Han and Jain 2015, "Face spoof
detection with image distortion analysis"; Tan et al. 2010's difference-of-Gaussian bands for NUAA): a
recaptured face is blurred twice (its fine bands carry less of the energy), loses contrast and colour
diversity, and shows specular glare. The training keeps only the measures whose direction agrees across the
training domains (texture.train).

No colour-cast statistics (version 2.2.0): the crop's hue angle and the mean, spread and skew of its S, Cr and
Cb planes say which way a screen or a camera tints the face, and that differs with every screen: the training
sources' replays are bluer and less saturated than their live faces, one unseen source's pink screen the
opposite, so with them its replays were accepted whole (leave-one-source-out ACER 50 %; MODEL_CARD.md,
"Selection"). The colour LBP histograms keep the chroma planes' texture, which a uniform cast hardly moves.

Beside them (version 3.0.0), the co-occurrence of adjacent LBP (CoALBP; Nosaka, Ohkawa and Fukui 2011) of the
hue plane: Boulkenafet, Komulainen and Hadid (TIFS 2016, "Face spoofing detection using colour texture
analysis") found it the colour texture descriptor that transfers best between databases. A simplified
4-neighbour LBP (up, right, down, left >= the centre) at radius 1, 2 and 4, and the joint histogram of
the codes of pixel pairs 2, 4 and 8 px apart in four directions: 3 x 4 histograms of 16 x 16 bins. Only the
hue plane's: added to the colour LBP it lifted the held-out ranking of the unseen screen sources most
(leave one source out AUC 0.928 -> 0.969; aksultan 0.842 -> 0.937, neonipun 0.781 -> 0.932), where the other
planes' CoALBP lost one source or another; it costs ranking on one phone (tranvanluyt 0.968 -> 0.937) and
robustness to strong colour casts, since a cast turns the hue of every pixel (MODEL_CARD.md, "Selection" and
"Limits").

The crop is the face box only (scale 1.0, no background), so the room, the paper edge and the screen bezel,
which change with every session and source, are not part of the evidence.
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

from liveness.types import Box, RGBImage
from liveness.vision.face import crop

CROP_SIZE = 64
"""Side of the face crop in pixels (the face box at scale 1.0, resized)."""
CROP_SCALE = 1.0
CROP_PAD = "edge"
"""Beyond the frame the crop repeats the edge pixels: a black band would be a texture of its own."""
LBP_POINTS = 8
LBP_RADII = (1, 2)
N_BINS = LBP_POINTS * (LBP_POINTS - 1) + 3
"""Non-rotation-invariant uniform LBP: 58 uniform patterns + one bin for all the others = 59."""
CHANNELS = ("H", "S", "V", "Y", "Cb", "Cr")
N_LBP = len(CHANNELS) * len(LBP_RADII) * N_BINS
COALBP_CHANNELS = ("H",)
COALBP_SCALES = ((1, 2), (2, 4), (4, 8))
"""(LBP radius, distance between the paired pixels) of each CoALBP scale."""
COALBP_DIRECTIONS = (("right", 0, 1), ("down", 1, 0), ("diagonal", 1, 1), ("antidiagonal", 1, -1))
"""Name and (row, column) step of each pair direction."""
COALBP_CODES = 16
"""4-neighbour LBP codes; a pair of them has COALBP_CODES**2 = 256 bins."""
N_COALBP = len(COALBP_CHANNELS) * len(COALBP_SCALES) * len(COALBP_DIRECTIONS) * COALBP_CODES**2
DOG_SIGMAS = (0.5, 1.0, 2.0, 4.0)
MOMENT_PLANES = ("V", "Y")
"""The planes whose mean, spread and skew are measures: brightness and contrast, not colour casts."""
DISTORTION_NAMES = (
    *(f"{plane}_{moment}" for plane in MOMENT_PLANES for moment in ("mean", "std", "skew")),
    "specular",
    "sharpness",
    "fine_detail",
    "colour_diversity",
    *(f"dog_band_{s}" for s in DOG_SIGMAS),
    "sharpness_R",
    "sharpness_G",
    "sharpness_B",
    "edges_Cr_over_Y",
    "edges_Cb_over_Y",
)
N_FEATURES = N_LBP + N_COALBP + len(DISTORTION_NAMES)
FEATURE_NAMES = (
    *(f"lbp_{c}_r{r}_{b}" for c in CHANNELS for r in LBP_RADII for b in range(N_BINS)),
    *(
        f"coalbp_{c}_r{r}_{name}_{b}"
        for c in COALBP_CHANNELS
        for r, _ in COALBP_SCALES
        for name, _, _ in COALBP_DIRECTIONS
        for b in range(COALBP_CODES**2)
    ),
    *DISTORTION_NAMES,
)
SPECULAR_V = 0.9 * 255
SPECULAR_MAX_S = 0.25 * 255
"""A specular pixel: bright (V >= 90 %) and nearly colourless (S < 25 %), Wen et al.'s glare test."""
EPS = 1e-3

FloatArray = npt.NDArray[np.float64]


def face_crop(image: RGBImage, box: Box) -> RGBImage:
    """The texture test's input: the face box, square, CROP_SIZE pixels, RGB uint8."""
    return crop(image, box, CROP_SCALE, CROP_SIZE, CROP_PAD)


def colour_planes(face: RGBImage) -> list[npt.NDArray[np.uint8]]:
    """The six 8-bit planes H, S, V, Y, Cb, Cr of an RGB crop (OpenCV's conversions, H scaled to 0-179)."""
    hsv = np.asarray(cv2.cvtColor(face, cv2.COLOR_RGB2HSV), dtype=np.uint8)
    ycrcb = np.asarray(cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb), dtype=np.uint8)  # OpenCV orders Y, Cr, Cb
    return [hsv[..., 0], hsv[..., 1], hsv[..., 2], ycrcb[..., 0], ycrcb[..., 2], ycrcb[..., 1]]


@cache
def _uniform_labels(points: int) -> npt.NDArray[np.intp]:
    """Bin of every `points`-bit pattern, numbered as scikit-image's "nri_uniform" numbers them: 0 for no
    neighbour >= the centre, P(P-1)+1 for all, 1 + (ones-1)P + rotation for the other patterns with at
    most two 0/1 changes along the circle (counted without wrapping, as scikit-image does), P(P-1)+2 for the
    rest."""
    labels = np.empty(2**points, dtype=np.intp)
    for code in range(2**points):
        bits = [(code >> i) & 1 for i in range(points)]
        changes = sum(bits[i] != bits[i + 1] for i in range(points - 1))
        ones = sum(bits)
        if changes > 2:
            labels[code] = points * (points - 1) + 2
        elif ones == 0:
            labels[code] = 0
        elif ones == points:
            labels[code] = points * (points - 1) + 1
        else:
            first_one, first_zero = bits.index(1), bits.index(0)
            rotation = ones - first_zero if first_one == 0 else points - first_one
            labels[code] = 1 + (ones - 1) * points + rotation
    return labels


def lbp_codes(planes: npt.NDArray[np.uint8], points: int, radius: float) -> npt.NDArray[np.intp]:
    """Uniform LBP label of every pixel of a 2-D uint8 plane, or of each plane of a (k, H, W) stack, equal
    to scikit-image's `local_binary_pattern(plane, points, radius, method="nri_uniform")` (a test checks it
    on real crops).

    Written with numpy so the serving image needs neither scikit-image nor SciPy (about 300 MB): neighbours
    on the circle are bilinearly interpolated with the same arithmetic, in float64, with zeros outside the
    plane, and a neighbour counts as 1 when it is >= the centre. A stack is computed in one pass per
    neighbour (the same elementwise arithmetic, so the same labels as plane by plane, in fewer calls). A
    neighbour on a row or column through the centre has no fractional offset: its value is the pixel itself
    ((1 - 0) a + 0 b is exactly a), read without the interpolation.
    """
    img = np.asarray(planes, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D plane or a (k, H, W) stack of planes, got shape {img.shape}")
    h, w = img.shape[-2:]
    pad = math.ceil(radius) + 1
    padded = np.pad(img, [(0, 0)] * (img.ndim - 2) + [(pad, pad), (pad, pad)])
    rows = np.arange(h, dtype=np.float64)[:, None]
    cols = np.arange(w, dtype=np.float64)[None, :]
    code = np.zeros(img.shape, dtype=np.uint8 if points <= 8 else np.intp)
    for i in range(points):
        r = rows + round(-radius * math.sin(2 * math.pi * i / points), 5)
        c = cols + round(radius * math.cos(2 * math.pi * i / points), 5)
        r0, c0 = np.floor(r), np.floor(c)
        dr, dc = r - r0, c - c0  # per row and per column, computed as scikit-image does per pixel
        # The neighbour's integer offsets are the same for every pixel, so its four taps are shifted views.
        y0, x0 = int(r0[0, 0]) + pad, int(c0[0, 0]) + pad
        if not dr.any() and not dc.any():
            value = padded[..., y0 : y0 + h, x0 : x0 + w]
        else:
            y1 = y0 + int(np.ceil(r[0, 0]) - r0[0, 0])
            x1 = x0 + int(np.ceil(c[0, 0]) - c0[0, 0])
            top = (1 - dc) * padded[..., y0 : y0 + h, x0 : x0 + w] + dc * padded[
                ..., y0 : y0 + h, x1 : x1 + w
            ]
            bottom = (1 - dc) * padded[..., y1 : y1 + h, x0 : x0 + w] + dc * padded[
                ..., y1 : y1 + h, x1 : x1 + w
            ]
            value = (1 - dr) * top + dr * bottom
        # value - centre >= 0 is value >= centre for finite doubles (their difference is 0 only when equal).
        code |= (value >= img).astype(code.dtype) << i
    return _uniform_labels(points)[code]


def _check_crop(face: RGBImage) -> None:
    if face.shape != (CROP_SIZE, CROP_SIZE, 3) or face.dtype != np.uint8:
        raise ValueError(
            f"expected a uint8 ({CROP_SIZE}, {CROP_SIZE}, 3) crop, got {face.dtype} {face.shape}"
        )


def _moments(plane: FloatArray) -> list[float]:
    """Mean, standard deviation (both as a share of 255) and skewness of a plane."""
    mean, std = float(plane.mean()), float(plane.std())
    skew = float((((plane - mean) / (std + EPS)) ** 3).mean())
    return [mean / 255.0, std / 255.0, skew]


def _log_sharpness(plane: FloatArray) -> float:
    """log(Laplacian variance / plane variance): blur lowers it whatever the contrast."""
    return float(np.log(cv2.Laplacian(plane, cv2.CV_64F).var() + EPS) - np.log(plane.var() + EPS))


def distortion(face: RGBImage) -> FloatArray:
    """The image-distortion measures of DISTORTION_NAMES, in that order: float64 (19,)."""
    _check_crop(face)
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV).astype(np.float64)
    ycrcb = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    y = ycrcb[..., 0]
    planes = {"V": hsv[..., 2], "Y": y}
    out: list[float] = []
    for name in MOMENT_PLANES:
        out += _moments(planes[name])
    out.append(float(((hsv[..., 2] >= SPECULAR_V) & (hsv[..., 1] < SPECULAR_MAX_S)).mean()))
    out.append(_log_sharpness(y))
    detail = np.abs(y - cv2.GaussianBlur(y, (0, 0), 1.5)).mean()
    out.append(float(np.log(detail + EPS) - np.log(y.std() + EPS)))
    bins = (face // 32).reshape(-1, 3).astype(np.intp)
    out.append(len(np.unique(bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2])) / 100.0)
    blurred = [y] + [cv2.GaussianBlur(y, (0, 0), s) for s in DOG_SIGMAS]
    energy = [float(np.mean((a - b) ** 2)) for a, b in zip(blurred, blurred[1:], strict=False)]
    total = sum(energy) + 1e-6
    out += [float(np.log(e / total + 1e-6)) for e in energy]
    out += [_log_sharpness(face[..., ch].astype(np.float64)) for ch in range(3)]
    y_edges = np.abs(cv2.Laplacian(y, cv2.CV_64F)).mean() + EPS
    out += [
        float(np.log(np.abs(cv2.Laplacian(ycrcb[..., k], cv2.CV_64F)).mean() + EPS) - np.log(y_edges))
        for k in (1, 2)
    ]
    return np.asarray(out, dtype=np.float64)


def features(face: RGBImage) -> FloatArray:
    """The texture test's feature vector: colour LBP, CoALBP, then the distortion measures, float64
    (N_FEATURES,)."""
    _check_crop(face)
    planes = colour_planes(face)  # once, for both LBP families
    return np.concatenate([_colour_lbp(planes), _coalbp(planes), distortion(face)])


def lbp4_codes(plane: npt.NDArray[np.uint8], radius: int) -> npt.NDArray[np.intp]:
    """4-neighbour LBP code (0-15) of every pixel: bit 0 up, 1 right, 2 down, 3 left, set where that
    neighbour `radius` px away is >= the centre; beyond the plane the edge pixels repeat."""
    p = np.pad(plane.astype(np.int16), radius, mode="edge")
    h, w = plane.shape
    r = radius
    centre = p[r : r + h, r : r + w]
    neighbours = (
        p[0:h, r : r + w],
        p[r : r + h, 2 * r : 2 * r + w],
        p[2 * r : 2 * r + h, r : r + w],
        p[r : r + h, 0:w],
    )
    code = np.zeros((h, w), dtype=np.intp)
    for bit, n in enumerate(neighbours):
        code |= (n >= centre).astype(np.intp) << bit
    return code


def coalbp(face: RGBImage) -> FloatArray:
    """Co-occurrence of adjacent LBP codes of the COALBP_CHANNELS planes: for each scale and direction, the
    normalised, square-rooted joint histogram of the codes of pixel pairs that far apart in that direction
    (first code x 16 + second), concatenated: float64 (N_COALBP,)."""
    _check_crop(face)
    return _coalbp(colour_planes(face))


def _coalbp(planes: list[npt.NDArray[np.uint8]]) -> FloatArray:
    """`coalbp` of the crop's `colour_planes`."""
    out = []
    for channel in COALBP_CHANNELS:
        for radius, distance in COALBP_SCALES:
            code = lbp4_codes(planes[CHANNELS.index(channel)], radius)
            h, w = code.shape
            for _, dy, dx in COALBP_DIRECTIONS:
                sy, sx = dy * distance, dx * distance
                first = code[max(0, -sy) : h - max(0, sy), max(0, -sx) : w - max(0, sx)]
                second = code[max(0, sy) : h - max(0, -sy), max(0, sx) : w - max(0, -sx)]
                hist = np.bincount((first * COALBP_CODES + second).ravel(), minlength=COALBP_CODES**2)
                out.append(np.sqrt(hist / hist.sum()))
    return np.concatenate(out).astype(np.float64)


def colour_lbp(face: RGBImage) -> FloatArray:
    """Normalised LBP histograms, one per channel and radius, concatenated: float64 (N_LBP,).

    Each histogram sums to 1 and is square-rooted (the Hellinger map), so a linear classifier compares
    histograms by the Bhattacharyya kernel rather than by raw bin counts dominated by the flat patterns.
    """
    _check_crop(face)
    return _colour_lbp(colour_planes(face))


def _colour_lbp(planes: list[npt.NDArray[np.uint8]]) -> FloatArray:
    """`colour_lbp` of the crop's `colour_planes`."""
    # All six planes (HSV, YCbCr) in one stack, one pass per neighbour and one bincount per radius. Under the
    # services' heap policy (liveness.memory.service_policy: freed blocks reused) that costs 2.9-3.5 ms a
    # face against 4.2-4.5 ms for two three-plane stacks, the same features bit for bit; the stacks were split
    # while the services returned every block from 128 KiB up to the kernel at once (a six-plane stack's
    # 192 KiB temporaries were then mapped afresh by every operation: 5.9 against 2.1 ms).
    stack = np.stack(planes)
    offsets = (np.arange(len(stack)) * N_BINS)[:, None, None]  # one bincount for all planes' histograms
    per_radius = [
        np.bincount(
            (lbp_codes(stack, LBP_POINTS, r) + offsets).ravel(), minlength=len(stack) * N_BINS
        ).reshape(len(stack), N_BINS)
        for r in LBP_RADII
    ]
    # Plane by plane, each plane's radii in order (FEATURE_NAMES' order).
    hist = np.stack(per_radius, axis=1).reshape(-1, N_BINS).astype(np.float64)
    return np.sqrt(hist / hist.sum(axis=1, keepdims=True)).ravel()
