"""iqa speed per 640x480 image, single thread: decode + 25 features + classify, and a per-metric breakdown.

Runs two references side by side and prints the ratio of their times to iqa's:

- **seed 001's own code** (the issue's reference, about 3 s per image with LMSE about 2.3 s of it): each
  measure ported operation by operation from the seed author's public repository, on the 8-bit grey image
  and 8-bit blurred copy its preprocessor makes (LMSE through a per-pixel helper with 8-bit overflow, corner
  counts and HLFI's spectrum sums pixel by pixel, BIQI's JPEG signs element by element, SSIM through
  scikit-image, VIF through OpenCV blurs). Its definitions differ from iqa's, so only its time is compared;
  what it leaves out (NIQE, RRED, BIQI's libsvm processes) only makes it faster than it ran.
- **iqa's definitions written seed-style** (float64 numpy/scipy/OpenCV, the same loops and library calls),
  whose features are compared with iqa's (relative difference per feature).

    .venv/bin/python benchmarks/bench_iqa.py [--data ../shared/data/nuaa] [--images 20] [--reference-images 3]

With `--baseline REV` it instead compares this tree's iqa with commit REV's (extracted with git archive, each
side in a process of its own, alternating rounds): per feature the largest absolute and relative difference
over the images, the largest change of P(live), how many decisions at the model's threshold differ, and
each side's CPU ms per image (decode excluded: features and classification) side by side:

    .venv/bin/python benchmarks/bench_iqa.py --baseline 28e675a --images 200 --rounds 2

Without the data set it uses scikit-image's astronaut, resized to 640x480. Timings are wall-clock and
process CPU time; on a shared machine the CPU time is the steadier figure, and the load average is printed
before and after so figures can be judged. The model runs with a service process's C heap policy
(liveness.memory.service_policy: freed maps stay in the heap); the references run afterwards in a fresh
process with the C library's default allocator, as the seed's code would run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage, special  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from iqa import quality  # noqa: E402
from iqa.model import IqaModel, IqaSettings, preprocess  # noqa: E402
from liveness.vision.decode import decode_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# --- iqa's definitions, computed the way seed 001's code computes its measures --------------------------


def _ref_laplacian_at(x: np.ndarray, i: int, j: int) -> float:
    """The 4-neighbour Laplacian at one pixel of a padded image (seed 001's per-pixel helper)."""
    return float(x[i + 1, j] + x[i - 1, j] + x[i, j + 1] + x[i, j - 1] - 4 * x[i, j])


def _ref_laplacian_map(img: np.ndarray) -> np.ndarray:
    """Seed 001's LMSE structure: enumerate rows and pixels, call the helper, write the map pixel by pixel."""
    padded = np.pad(img, 1, mode="reflect")  # reflect-101 borders, the definition iqa uses
    out = np.zeros_like(img)
    for row_index, row in enumerate(img):
        for col_index, _ in enumerate(row):
            out[row_index][col_index] = _ref_laplacian_at(padded, row_index + 1, col_index + 1)
    return out


def _ref_lmse(ref: np.ndarray, test: np.ndarray) -> float:
    lap_ref, lap_test = _ref_laplacian_map(ref), _ref_laplacian_map(test)
    return float(np.square(lap_ref - lap_test).sum() / np.square(lap_ref).sum())


def _ref_angles(ref: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """MAS and MAMS row by row with arccos (Galbally's Matlab, ported line by line)."""
    thetas, mags = [], []
    for i in range(ref.shape[0]):
        r, t = ref[i], test[i]
        cos = np.dot(r, t) / (np.linalg.norm(r) * np.linalg.norm(t))
        thetas.append(2 / math.pi * math.acos(min(1.0, max(-1.0, cos))))
        mags.append(np.linalg.norm(r - t) / (255.0 * math.sqrt(ref.shape[1])))
    th, mg = np.array(thetas), np.array(mags)
    return float(1 - th.mean()), float(np.mean(1 - (1 - th) * (1 - mg)))


def _gauss_valid(a: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's n x n Gaussian (sigma n / 5, seed 001's VIF filter), cut to the 'valid' region."""
    r = n // 2
    return cv2.GaussianBlur(a, (n, n), n / 5.0, borderType=cv2.BORDER_REFLECT_101)[r:-r, r:-r]


def _ref_ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """A library call, as seed 001 (scikit-image), with iqa's window: Gaussian sigma 1.5, 11 taps."""
    return float(
        structural_similarity(
            ref, test, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255.0
        )
    )


def _ref_vif(ref: np.ndarray, test: np.ndarray) -> float:
    """Seed 001's VIF loop (OpenCV Gaussian filtering, then the LIVE code's gain rules), iqa's scales."""
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        if scale > 1:
            ref = _gauss_valid(ref, n)[::2, ::2]
            test = _gauss_valid(test, n)[::2, ::2]
        mu1, mu2 = _gauss_valid(ref, n), _gauss_valid(test, n)
        s1 = _gauss_valid(ref * ref, n) - mu1**2
        s2 = _gauss_valid(test * test, n) - mu2**2
        s12 = _gauss_valid(ref * test, n) - mu1 * mu2
        info, base = quality.vif_reference_sums(s1, s2, s12)
        num, den = num + info, den + base
    return float(num / den)


def _ref_wavelet(img: np.ndarray, levels: int) -> list[tuple[np.ndarray, ...]]:
    lo = quality._CDF97_LO.astype(np.float64)
    hi = quality._CDF97_HI.astype(np.float64)
    out = []
    low = img
    for _ in range(levels):
        rl = ndimage.correlate1d(low, lo, axis=1, mode="mirror")[:, ::2]
        rh = ndimage.correlate1d(low, hi, axis=1, mode="mirror")[:, ::2]
        lh = ndimage.correlate1d(rl, hi, axis=0, mode="mirror")[::2]
        hl = ndimage.correlate1d(rh, lo, axis=0, mode="mirror")[::2]
        hh = ndimage.correlate1d(rh, hi, axis=0, mode="mirror")[::2]
        low = ndimage.correlate1d(rl, lo, axis=0, mode="mirror")[::2]
        out.append((lh, hl, hh))
    return out


_GAMMAS = np.arange(0.2, 10.0005, 0.001)


def _ref_ggd(x: np.ndarray) -> tuple[float, float]:
    """Grid search over the gamma table, recomputed per band (as the BIQI gist does)."""
    r_gam = special.gamma(1 / _GAMMAS) * special.gamma(3 / _GAMMAS) / special.gamma(2 / _GAMMAS) ** 2
    var = np.mean(x**2)
    rho = var / np.mean(np.abs(x)) ** 2
    return float(_GAMMAS[np.argmin(np.abs(r_gam - rho))]), float(var)


def _ref_biqi(img: np.ndarray, model: quality.BiqiModel) -> float:
    feats = []
    for level in _ref_wavelet(img, 3):
        for band in level:
            shape, var = _ref_ggd(band.ravel())
            feats += [math.log1p(var), shape]
    return model.score(np.array(feats))


def _ref_aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    r_gam = special.gamma(2 / _GAMMAS) ** 2 / (special.gamma(1 / _GAMMAS) * special.gamma(3 / _GAMMAS))
    left = np.sqrt(np.mean(x[x < 0] ** 2)) if np.any(x < 0) else 0.0
    right = np.sqrt(np.mean(x[x > 0] ** 2)) if np.any(x > 0) else 0.0
    gh = left / right if right > 0 else np.inf
    rh = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    big_r = rh * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
    alpha = float(_GAMMAS[np.argmin((r_gam - big_r) ** 2)])
    mean = (right - left) * special.gamma(2 / alpha) / special.gamma(1 / alpha)
    mean *= math.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    return alpha, float(mean), float(left**2), float(right**2)


def _ref_niqe(img: np.ndarray, model: quality.NiqeModel) -> float:
    """Patch-by-patch NIQE features (the common Python port's loops), then the same distance."""
    size = 96
    rows = []
    image = img
    per_scale = []
    for scale in (1, 2):
        if scale == 2:
            image = cv2.resize(img.astype(np.float32), (img.shape[1] // 2, img.shape[0] // 2),
                               interpolation=cv2.INTER_CUBIC).astype(np.float64)  # fmt: skip
        side = size // scale
        mu = cv2.GaussianBlur(image, (7, 7), 7 / 6)
        sigma = np.sqrt(np.abs(cv2.GaussianBlur(image * image, (7, 7), 7 / 6) - mu * mu))
        m = (image - mu) / (sigma + 1)
        feats = []
        for py in range(image.shape[0] // side):
            for px in range(image.shape[1] // side):
                sl = (slice(py * side, (py + 1) * side), slice(px * side, (px + 1) * side))
                patch = m[sl]
                a, _, lv, rv = _ref_aggd(patch.ravel())
                f = [a, (lv + rv) / 2]
                for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                    shifted = np.roll(m, (-dy, -dx), axis=(0, 1))[sl]
                    f += list(_ref_aggd((patch * shifted).ravel()))
                feats.append(f)
        per_scale.append(np.array(feats))
    n = min(len(p) for p in per_scale)
    rows = np.hstack([p[:n] for p in per_scale])
    return model.distance(rows)


def reference_features(
    grey: np.ndarray,
    biqi: quality.BiqiModel,
    niqe: quality.NiqeModel | None,
    timings: dict[str, float],
    names: tuple[str, ...] = quality.METRICS,
) -> np.ndarray:
    """The features `names`, seed style (every one is computed, NIQE only with its model); `timings` collects
    ms per metric."""
    ref = grey.astype(np.float64)
    test = cv2.GaussianBlur(ref, (5, 5), 0)
    out: dict[str, float] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        value = fn()
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - start) * 1e3
        return value

    d = ref - test
    out["MSE"] = timed("MSE", lambda: np.mean(d**2))
    out["PSNR"] = timed("PSNR", lambda: 10 * np.log10(ref.max() ** 2 / np.mean(d**2)))
    out["SNR"] = timed("SNR", lambda: 10 * np.log10(np.sum(ref**2) / np.sum(d**2)))
    out["SC"] = timed("SC", lambda: np.sum(ref**2) / np.sum(test**2))
    out["MD"] = timed("MD", lambda: np.max(np.abs(d)))
    out["AD"] = timed("AD", lambda: np.mean(d))
    out["NAE"] = timed("NAE", lambda: np.sum(np.abs(d)) / np.sum(np.abs(ref)))
    out["RAMD"] = timed("RAMD", lambda: np.mean(np.sort(np.abs(d).ravel())[::-1][:10]))
    out["LMSE"] = timed("LMSE", lambda: _ref_lmse(ref, test))
    out["NXC"] = timed("NXC", lambda: np.sum(ref * test) / np.sum(ref**2))
    mas, mams = timed("MAS", lambda: _ref_angles(ref, test))
    out["MAS"], out["MAMS"] = mas, mams
    timings["MAMS"] = timings.get("MAMS", 0.0)

    def sobel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # OpenCV's Sobel, as seed 001's TED/GME/GPE
        return cv2.Sobel(a, cv2.CV_64F, 1, 0, ksize=3) / 8, cv2.Sobel(a, cv2.CV_64F, 0, 1, ksize=3) / 8

    def ted() -> float:
        (gx, gy), (tx, ty) = sobel(ref), sobel(test)
        cutoff = 4 * np.mean(gx**2 + gy**2)

        def edges(ax: np.ndarray, ay: np.ndarray) -> np.ndarray:
            mag = ax**2 + ay**2
            p = np.pad(mag, 1, constant_values=-1)
            hor = (np.abs(ax) >= np.abs(ay)) & (mag > p[1:-1, :-2]) & (mag > p[1:-1, 2:])
            ver = (np.abs(ay) >= np.abs(ax)) & (mag > p[:-2, 1:-1]) & (mag > p[2:, 1:-1])
            return (mag > cutoff) & (hor | ver)

        return float(np.mean(edges(gx, gy) != edges(tx, ty)))

    out["TED"] = timed("TED", ted)

    def tcd() -> float:
        def harris(a: np.ndarray) -> np.ndarray:
            gx, gy = sobel(a)
            sxx = ndimage.uniform_filter(gx * gx, 3, mode="mirror") * 9
            syy = ndimage.uniform_filter(gy * gy, 3, mode="mirror") * 9
            sxy = ndimage.uniform_filter(gx * gy, 3, mode="mirror") * 9
            return sxx * syy - sxy**2 - 0.04 * (sxx + syy) ** 2

        def count(r: np.ndarray, peak: np.ndarray, thr: float) -> int:
            counter = 0  # seed 001 counts the corners of its Harris map pixel by pixel
            for i in range(r.shape[0]):
                for j in range(r.shape[1]):
                    if r[i, j] >= peak[i, j] and r[i, j] > thr:
                        counter += 1
            return counter

        r1, r2 = harris(ref), harris(test)
        thr = max(0.01 * r1.max(), 0)
        n1 = count(r1, ndimage.maximum_filter(r1, 3, mode="nearest"), thr)
        n2 = count(r2, ndimage.maximum_filter(r2, 3, mode="nearest"), thr)
        return float(abs(n1 - n2) / max(n1, n2)) if max(n1, n2) else 0.0

    out["TCD"] = timed("TCD", tcd)
    f_ref, f_test = timed("SME", lambda: (np.fft.fft2(ref), np.fft.fft2(test)))
    out["SME"] = timed("SME", lambda: np.mean((np.abs(f_ref) - np.abs(f_test)) ** 2))
    out["SPE"] = timed("SPE", lambda: np.mean(np.angle(f_ref * np.conj(f_test)) ** 2))

    def grad(a: np.ndarray) -> np.ndarray:
        gx, gy = sobel(a)
        return gx + 1j * gy

    g_ref, g_test = timed("GME", lambda: (grad(ref), grad(test)))
    out["GME"] = timed("GME", lambda: np.mean((np.abs(g_ref) - np.abs(g_test)) ** 2))
    defined = (np.abs(g_ref) > quality.GRADIENT_EPS) & (np.abs(g_test) > quality.GRADIENT_EPS)
    out["GPE"] = timed("GPE", lambda: np.mean(np.where(defined, np.angle(g_ref * np.conj(g_test)), 0) ** 2))
    out["SSIM"] = timed("SSIM", lambda: _ref_ssim(ref, test))
    out["VIF"] = timed("VIF", lambda: _ref_vif(ref, test))

    def rred() -> float:
        total = 0.0
        for a, b in zip(_ref_wavelet(ref, 1)[0], _ref_wavelet(test, 1)[0], strict=True):
            va = ndimage.uniform_filter(a * a, 3, mode="mirror")
            vb = ndimage.uniform_filter(b * b, 3, mode="mirror")
            total += np.mean(np.abs(np.log1p(va) * np.log(va + 0.1) - np.log1p(vb) * np.log(vb + 0.1)))
        return total / 3

    out["RRED"] = timed("RRED", rred)
    out["JQI"] = timed("JQI", lambda: quality.metric("JQI", grey, grey))  # already plain numpy

    def hlfi() -> float:
        mag = np.abs(f_ref)
        low_rows = np.abs(np.fft.fftfreq(mag.shape[0])) <= 0.075
        low_cols = np.abs(np.fft.fftfreq(mag.shape[1])) <= 0.075
        low = high = 0.0  # seed 001 sums the low- and high-frequency regions element by element
        for i in range(mag.shape[0]):
            for j in range(mag.shape[1]):
                if low_rows[i] and low_cols[j]:
                    low += mag[i, j]
                else:
                    high += mag[i, j]
        return float(abs(low - high) / (low + high))

    out["HLFI"] = timed("HLFI", hlfi)
    out["BIQI"] = timed("BIQI", lambda: _ref_biqi(ref, biqi))
    if niqe is not None:
        out["NIQE"] = timed("NIQE", lambda: _ref_niqe(ref, niqe))
    return np.array([out[name] for name in names], dtype=np.float64)


# --- seed 001's own code: its definitions, run the way it runs them ---------------------------------------
# Ported operation by operation from the seed author's public repository (OhmGeek/FacialLivenessTests,
# app/liveness/quality/): 8-bit grey input and an 8-bit blurred copy, as its preprocessor makes them, and each
# measure computed as its module computes it, including its integer arithmetic. The values differ from iqa's
# (other definitions, 8-bit overflow); only the time is compared. Left out, so the seed is if anything
# faster here than it ran: NIQE and RRED (not implemented there), BIQI's ten libsvm command-line runs
# (svm-scale/svm-predict processes; only its feature extraction is timed), and its db9 wavelet (PyWavelets
# is not a dependency; the CDF 9/7 bands above stand in). JQI there does not run as written (undefined
# names); its evident vectorised intent is timed.


def _seed_lap_at(x: np.ndarray, i: int, j: int) -> float:
    if i < 0 or j < 0 or i >= x.shape[0] - 1 or j >= x.shape[1] - 1:
        return 0.0
    return math.ceil(x[i + 1, j] + x[i - 1, j] + x[i, j + 1] + x[i, j - 1] - (4 * x[i, j]))


def _seed_lap_map(image: np.ndarray) -> np.ndarray:
    out = np.zeros_like(image)
    for r, row in enumerate(image):
        for c, _ in enumerate(row):
            out[r][c] = _seed_lap_at(image, r, c)
    return out


def _seed_corners(image: np.ndarray, thresh: int = 160) -> int:
    dst = cv2.cornerHarris(image, 2, 3, 0.04)
    norm = np.empty(dst.shape, dtype=np.float32)
    cv2.normalize(dst, norm, alpha=0, beta=255, norm_type=cv2.NORM_MINMAX)
    cv2.convertScaleAbs(norm)
    counter = 0
    for i in range(norm.shape[0]):
        for j in range(norm.shape[1]):
            if int(norm[i, j]) > thresh:
                counter += 1
    return counter


def _seed_log_spectrum(image: np.ndarray) -> np.ndarray:
    f = np.fft.fftshift(cv2.dft(np.float32(image), flags=cv2.DFT_COMPLEX_OUTPUT))
    return 20 * np.log(cv2.magnitude(f[:, :, 0], f[:, :, 1]))


def _seed_jpeg_direction(arr: np.ndarray) -> tuple[float, float, float]:
    """Blockiness, activity and zero-crossing rate along rows, the signs taken element by element."""
    m, n = arr.shape
    d = arr[:, 1:] - arr[:, : n - 1]
    cols = np.zeros((m, n // 8 - 1))
    for i in range(1, n // 8 - 1):
        cols[:, i] = d[:, i * 8 - 1]
    b = np.abs(cols).mean()
    a = (8.0 * np.abs(d).mean() - b) / 7.0
    sign = np.zeros(d.shape)
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            sign[i, j] = 1 if d[i, j] > 0 else (0 if d[i, j] == 0 else -1)
    return float(b), float(a), float((sign[:, : n - 2] * sign[:, 1:] < 0).mean())


def _seed_jpeg_quality(arr: np.ndarray) -> float:
    """The BIQI gist's JPEG score: the row measures of the image and of its transpose (its columns)."""
    grey = arr.astype(np.float64)
    (b_h, a_h, z_h), (b_v, a_v, z_v) = _seed_jpeg_direction(grey), _seed_jpeg_direction(grey.T)
    b, a, z = (b_h + b_v) / 2, (a_h + a_v) / 2, (z_h + z_v) / 2
    score = (
        -927.4240 + 850.8986 * complex(b) ** 0.02354451 * complex(a) ** 0.01287548 * complex(z) ** -0.0341479
    )
    return score.real


def _seed_biqi(image: np.ndarray) -> list[float]:
    _seed_jpeg_quality(image)
    gams = [i / 1000.0 for i in range(200, 1001)]
    r_gam = [math.gamma(1 / g) * math.gamma(3 / g) / math.gamma(2 / g) ** 2 for g in gams]
    arr = image.astype(np.float64)
    feats: list[float] = []
    for level in range(3):
        if level:
            arr = np.resize(arr, (arr.shape[0] // 2, arr.shape[1] // 2))
        for band in _ref_wavelet(arr, 1)[0]:
            cur = band.flatten("F")
            var = ((cur - cur.mean()) * (cur - cur.mean())).mean()
            rho = var / var**2
            diffs = sorted(((k, r_gam[k] - rho) for k in range(len(r_gam))), key=lambda item: item[1])
            feats += [var, gams[diffs[0][0]]]
    return feats


def _seed_vif(image: np.ndarray, blurred: np.ndarray) -> float:
    num = den = 0.0
    ref, dist = image, blurred
    for scale in range(1, 5):
        sd = (2 ** (4 - scale + 1) + 1) / 5.0
        if scale > 1:
            ref, dist = cv2.GaussianBlur(image, (5, 5), sd), cv2.GaussianBlur(blurred, (5, 5), sd)
        mu1, mu2 = cv2.GaussianBlur(ref, (5, 5), sd), cv2.GaussianBlur(dist, (5, 5), sd)
        s1 = cv2.GaussianBlur(ref * ref, (5, 5), sd) - mu1 * mu1
        s2 = cv2.GaussianBlur(dist * dist, (5, 5), sd) - mu2 * mu2
        s12 = cv2.GaussianBlur(ref * dist, (5, 5), sd) - mu1 * mu2
        info, base = quality.vif_reference_sums(s1, s2, s12)
        num, den = num + info, den + base
    return float(num / den)


def seed_features(image: np.ndarray, timings: dict[str, float]) -> None:
    """Seed 001's measures on an 8-bit grey image; `timings` collects ms per measure (iqa's names)."""
    blurred = cv2.GaussianBlur(image, (5, 5), 0)

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        fn()
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - start) * 1e3

    def mse() -> float:
        return float(np.mean(np.square(np.subtract(image, blurred))))

    def angles() -> np.ndarray:
        prod = np.multiply(np.abs(image), np.abs(blurred)).astype(np.float64)
        prod[prod == 0] = 1
        with np.errstate(invalid="ignore"):
            return 1 - (2 / np.pi) * np.arccos(np.multiply(image, blurred) / prod)

    def spectra_error(log: bool) -> float:
        fa, fb = (
            np.fft.fftshift(cv2.dft(np.float32(x), flags=cv2.DFT_COMPLEX_OUTPUT)) for x in (image, blurred)
        )
        ma, mb = cv2.magnitude(fa[:, :, 0], fa[:, :, 1]), cv2.magnitude(fb[:, :, 0], fb[:, :, 1])
        if log:
            ma, mb = 20 * np.log(ma), 20 * np.log(mb)
        return float(np.mean(np.square(ma - mb)))

    def hlfi() -> float:
        spec = _seed_log_spectrum(image)
        total = np.abs(spec).sum()
        low = high = 0.0
        for i in range(math.ceil(0.15 * image.shape[0])):
            for j in range(math.ceil(0.15 * image.shape[1])):
                low += spec[i, j]
        for i in range(math.ceil(0.15 * image.shape[0] + 1), image.shape[0]):
            for j in range(math.ceil(0.15 * image.shape[1] + 1), image.shape[1]):
                high += spec[i, j]
        return (low - high) / total

    def gradient_error(kind: str) -> float:
        if kind == "GPE":
            a = cv2.magnitude(
                cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=5), cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=5)
            )
            b = cv2.magnitude(
                cv2.Sobel(blurred, cv2.CV_64F, 1, 0, ksize=5), cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=5)
            )
        else:
            a, b = cv2.Sobel(image, cv2.CV_64F, 1, 1, ksize=5), cv2.Sobel(blurred, cv2.CV_64F, 1, 1, ksize=5)
        return float(np.mean(np.abs(a - b)) if kind == "TED" else np.mean(np.square(a - b)))

    def lmse() -> float:
        la, lb = _seed_lap_map(image), _seed_lap_map(blurred)
        return float(np.square(np.subtract(la, lb)).sum() / np.square(la).sum())

    def ramd() -> float:
        abs_diff = np.absolute(np.subtract(image, blurred))  # once, summed with Python's sum as the seed does
        return float(sum(abs_diff[np.where(abs_diff <= 10)]) / 10)

    def jqi() -> float:
        d = image[:, 2:].astype(np.int32) - image[:, 1:-1]
        return float(np.mean(np.abs(d[:, 7::8])) + np.mean(np.sign(d[:, 1:-1]) * np.sign(d[:, 2:]) < 0))

    timed("AD", lambda: np.mean(image - blurred))
    timed("BIQI", lambda: _seed_biqi(image))
    timed("GME", lambda: gradient_error("GME"))
    timed("GPE", lambda: gradient_error("GPE"))
    timed("HLFI", hlfi)
    timed("JQI", jqi)
    timed("LMSE", lmse)
    timed("MAMS", lambda: np.mean(1 - angles() * (1 - np.abs(np.subtract(image, blurred)) / 255)))
    timed("MAS", lambda: 1 - angles().mean())
    timed("MD", lambda: np.absolute(np.subtract(image, blurred)).max())
    timed("MSE", mse)
    timed("NAE", lambda: np.absolute(np.subtract(image, blurred)).sum() / np.absolute(image).sum())
    timed("NXC", lambda: np.dot(image, np.transpose(blurred)).sum() / np.square(image).sum())
    timed("PSNR", lambda: 10 * np.log(np.square(image).max() / mse()))
    timed("RAMD", ramd)
    timed("SC", lambda: np.square(image).sum() / np.square(blurred).sum())
    timed("SME", lambda: spectra_error(log=True))
    timed("SNR", lambda: 10 * np.log(np.square(image).sum() / (image.shape[0] * image.shape[1] * mse())))
    timed("SPE", lambda: spectra_error(log=False))
    timed("SSIM", lambda: structural_similarity(image, blurred))
    timed("TCD", lambda: abs(_seed_corners(image) - _seed_corners(blurred)))
    timed("TED", lambda: gradient_error("TED"))
    timed("VIF", lambda: _seed_vif(image, blurred))


def seed_run(jpegs: list[bytes]) -> tuple[list[float], list[float], dict[str, float]]:
    """Seed 001's measures on every image (decode included): wall ms, CPU ms, per-measure ms."""
    cv2.setNumThreads(1)
    timings: dict[str, float] = {}
    wall, cpu = [], []
    for data in jpegs:
        t0, c0 = time.perf_counter(), time.process_time()
        with (
            warnings.catch_warnings()
        ):  # its 8-bit Laplacian overflows; the warning machinery runs either way
            warnings.simplefilter("ignore", RuntimeWarning)
            seed_features(cv2.cvtColor(decode_image(data), cv2.COLOR_RGB2GRAY), timings)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu, timings


# --- driver ----------------------------------------------------------------------------------------------


def _image_files(data: Path | None, n: int) -> list[Path]:
    """n images spread evenly over the data set's sorted files (live and spoof, every subject)."""
    if data is None or not data.is_dir():
        return []
    files = sorted(data.glob("*/*/*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


def _images(data: Path | None, n: int) -> list[bytes]:
    files = _image_files(data, n)
    if files:
        return [f.read_bytes() for f in files]
    import skimage.data
    from PIL import Image

    img = cv2.resize(skimage.data.astronaut(), (640, 480), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92)
    return [buf.getvalue()] * n


def reference_run(
    jpegs: list[bytes], biqi: quality.BiqiModel, niqe: quality.NiqeModel | None, names: tuple[str, ...]
) -> tuple[list[float], list[float], dict[str, float], list[np.ndarray]]:
    """Decode and compute the reference features of every image: wall ms, CPU ms, per-metric ms, features."""
    cv2.setNumThreads(1)
    timings: dict[str, float] = {}
    wall, cpu, feats = [], [], []
    for data in jpegs:
        t0, c0 = time.perf_counter(), time.process_time()
        grey = cv2.cvtColor(decode_image(data), cv2.COLOR_RGB2GRAY)
        feats.append(reference_features(grey, biqi, niqe, timings, names))
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu, timings, feats


# --- this tree against a baseline commit ----------------------------------------------------------------


def service_heap() -> None:
    """The C heap policy of a service process, from the code on PYTHONPATH (a baseline commit's iqa model
    from before liveness.memory.service_policy set it itself when it loaded)."""
    try:
        from liveness import memory
    except ImportError:  # older than liveness.memory
        return
    policy = getattr(memory, "service_policy", None)
    if policy is not None:
        policy()


def features_worker(data: Path, n: int, out: Path) -> None:
    """(--worker) The served model's features (and their names), P(live) and CPU ms per image of `n` images
    of `data`, computed by the iqa package on PYTHONPATH with its own served model, saved to `out` (.npz).
    Decoding is not timed."""
    service_heap()
    model = IqaModel(IqaSettings(threads=1))
    model.warmup()
    feats, scores, cpu_ms = [], [], []
    for path in _image_files(data, n):
        image = decode_image(path.read_bytes())
        c0 = time.process_time()
        f, _ = model.features(image)
        score = float(model.artifact.classifier.proba(f)[0])
        cpu_ms.append((time.process_time() - c0) * 1e3)
        feats.append(f)
        scores.append(score)
    np.savez(
        out,
        features=np.array(feats),
        names=np.array(model.artifact.feature_names),
        scores=np.array(scores),
        cpu_ms=np.array(cpu_ms),
        threshold=np.array(model.artifact.threshold),
    )


def compare_with_baseline(rev: str, data: Path, n: int, rounds: int) -> None:
    """Features, decisions and CPU time of this tree's iqa against commit `rev`'s, on the same images."""
    import subprocess
    import sys
    import tempfile

    sys.path.insert(0, str(REPO / "benchmarks"))
    from baseline import extracted, pythonpath

    if not _image_files(data, n):
        raise SystemExit(f"no images under {data}")
    runs: dict[str, list[dict[str, np.ndarray]]] = {rev: [], "this tree": []}
    with extracted(rev) as root, tempfile.TemporaryDirectory() as tmp:
        paths = {rev: pythonpath(root), "this tree": pythonpath(REPO)}
        for r in range(rounds):
            for side in runs:
                out = Path(tmp) / f"{len(runs[side])}-{side.replace(' ', '_')}.npz"
                env = {**os.environ, "PYTHONPATH": paths[side], "OMP_NUM_THREADS": "1"}
                cmd = [sys.executable, __file__, "--worker", str(out), "--data", str(data)]
                cmd += ["--images", str(n)]
                subprocess.run(cmd, env=env, check=True)
                with np.load(out) as npz:
                    runs[side].append({k: npz[k] for k in npz.files})
                median = np.median(runs[side][-1]["cpu_ms"])
                print(f"round {r + 1}/{rounds} {side}: median {median:.1f} ms CPU", flush=True)
    base, ours = runs[rev][0], runs["this tree"][0]
    a, b = ours["features"], base["features"]
    a_names, b_names = [str(n) for n in ours["names"]], [str(n) for n in base["names"]]
    print(f"\n{a.shape[0]} images of {data.name}; this tree against {rev}")
    print(f"{'feature':8s}{'max |diff|':>12s}{'max rel':>10s}{'images changed':>16s}{'median value':>14s}")
    for name in quality.METRICS:
        if name not in a_names or name not in b_names:
            side = (
                f"{rev} only" if name in b_names else "this tree only" if name in a_names else "neither side"
            )
            print(f"{name:8s}  read by {side}")
            continue
        x, y = a[:, a_names.index(name)], b[:, b_names.index(name)]
        diff = np.abs(x - y)
        rel = diff / np.maximum(np.abs(y), 1e-12)  # huge where the baseline's value was 0
        changed = int(np.count_nonzero(diff))
        print(f"{name:8s}{diff.max():12.2e}{rel.max():10.1e}{changed:16d}{np.median(y):14.6g}")
    threshold = float(base["threshold"])
    flips = int(np.sum((ours["scores"] >= threshold) != (base["scores"] >= threshold)))
    print(
        f"P(live): max |diff| {np.abs(ours['scores'] - base['scores']).max():.2e}; decisions at "
        f"{threshold:g} that differ: {flips} of {len(base['scores'])}"
    )
    heads = "".join(f"{'round ' + str(r + 1):>10s}" for r in range(rounds))
    print(f"\n{'side':12s}{heads}{'all':>10s}")
    medians = {}
    for side, side_runs in runs.items():
        per_round = [float(np.median(run["cpu_ms"])) for run in side_runs]
        medians[side] = float(np.median(np.concatenate([run["cpu_ms"] for run in side_runs])))
        print(f"{side:12s}" + "".join(f"{m:10.1f}" for m in per_round) + f"{medians[side]:10.1f}")
    print(
        "(median CPU ms per image: features + classification, one thread); ratio this tree / "
        f"{rev}: {medians['this tree'] / medians[rev]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "nuaa")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--reference-images", type=int, default=3)
    parser.add_argument("--model", type=Path, default=IqaSettings().model_path)
    parser.add_argument("--baseline", help="compare with this commit's iqa instead (see above)")
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline: alternating rounds")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.worker is not None:
        features_worker(args.data, args.images, args.worker)
        return
    if args.baseline:
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        compare_with_baseline(args.baseline, args.data, args.images, args.rounds)
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        return
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    service_heap()
    model = IqaModel(IqaSettings(model_path=args.model, threads=1))
    model.warmup()
    art = model.artifact
    jpegs = _images(args.data, args.images)
    shape = decode_image(jpegs[0]).shape
    print(f"images: {len(jpegs)} x {shape[1]}x{shape[0]} JPEG; OpenCV threads {cv2.getNumThreads()}")

    wall, cpu = [], []
    for data in jpegs:
        w0, c0 = time.perf_counter(), time.process_time()
        model.score_image(decode_image(data))
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    timings: dict[str, float] = {}
    stage = {"decode": 0.0, "features": 0.0, "classify": 0.0}
    for data in jpegs:
        t0 = time.perf_counter()
        image = decode_image(data)
        grey = preprocess(image, art.max_side, art.centre)
        t1 = time.perf_counter()
        raw = quality.raw_features(grey, timings, clock=time.process_time, measures=art.feature_names)
        feats = quality.combine(raw, art.biqi, art.niqe, art.feature_names)
        t2 = time.perf_counter()
        art.classifier.proba(feats)
        t3 = time.perf_counter()
        stage["decode"] += (t1 - t0) * 1e3
        stage["features"] += (t2 - t1) * 1e3
        stage["classify"] += (t3 - t2) * 1e3
    n = len(jpegs)
    print(
        f"iqa (decode + features + classify), per image: median {statistics.median(wall):.1f} ms wall, "
        f"mean {statistics.mean(wall):.1f} ms wall, median {statistics.median(cpu):.1f} ms CPU, "
        f"min {min(wall):.1f} ms wall / {min(cpu):.1f} ms CPU (the least disturbed run on a shared machine)"
    )
    print("stages (wall ms, mean): " + ", ".join(f"{k} {v / n:.1f}" for k, v in stage.items()))

    # The reference runs in a fresh process, as seed 001's code would: the C library's default allocator,
    # not the heap setting the iqa model makes for its own process (which speeds the reference up too).
    ref_jpegs = jpegs[: args.reference_images]
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        ref_wall, ref_cpu, ref_timings, ref_all = pool.submit(
            reference_run, ref_jpegs, art.biqi, art.niqe, art.feature_names
        ).result()
        seed_wall, seed_cpu, seed_timings = pool.submit(seed_run, ref_jpegs).result()
    worst = np.zeros(len(art.feature_names))
    for data, ref_feats in zip(ref_jpegs, ref_all, strict=True):
        grey = cv2.cvtColor(decode_image(data), cv2.COLOR_RGB2GRAY)
        fast = quality.features(grey.astype(np.float32), art.biqi, art.niqe, art.feature_names)
        worst = np.maximum(worst, np.abs(fast - ref_feats) / np.maximum(np.abs(ref_feats), 1e-9))
    m = len(ref_wall)
    print(
        f"\n{'metric':6s} {'iqa CPU ms':>10s} {'seed-style ms':>13s} {'rel. diff':>10s} {'seed 001 ms':>12s}"
    )
    for i, name in enumerate(art.feature_names):
        seed_ms = f"{seed_timings[name] / m:12.1f}" if name in seed_timings else f"{'-':>12s}"
        print(
            f"{name:6s} {timings[name] / n:10.2f} {ref_timings.get(name, 0.0) / m:13.1f} "
            f"{worst[i]:10.1e} {seed_ms}"
        )
    ours_wall, ours_cpu = statistics.median(wall), statistics.median(cpu)
    print(f"\niqa per image (median of {n}): {ours_wall:.1f} ms wall, {ours_cpu:.1f} ms CPU")
    for label, r_wall, r_cpu in (
        ("seed 001's own code (the issue's reference)", seed_wall, seed_cpu),
        ("iqa's definitions, seed-style (float64)", ref_wall, ref_cpu),
    ):
        print(
            f"{label}: {statistics.median(r_wall):.0f} ms wall, {statistics.median(r_cpu):.0f} ms CPU "
            "per image "
            f"(median of {m}); speed-up of the medians {statistics.median(r_wall) / ours_wall:.0f}x wall, "
            f"{statistics.median(r_cpu) / ours_cpu:.0f}x CPU; of the least disturbed runs "
            f"{min(r_wall) / min(wall):.0f}x wall, {min(r_cpu) / min(cpu):.0f}x CPU"
        )
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
