"""iqa speed per 640x480 image, single thread: decode + 25 features + classify, and a per-metric breakdown.

Runs side by side a *reference* implementation written the way seed 001's code computes the same
measures (float64 numpy/scipy, LMSE with a per-pixel Python loop, MAS/MAMS row by row, SSIM and VIF with
scipy.signal.convolve2d, NIQE and BIQI fitted patch by patch / band by band over a gamma grid), prints the
ratio of their times and how closely the two agree on every feature.

    .venv/bin/python benchmarks/bench_iqa.py [--data ../shared/data/nuaa] [--images 20] [--reference-images 3]

Without the data set it uses scikit-image's astronaut, resized to 640x480. Timings are wall-clock and
process CPU time; on a shared machine the CPU time is the steadier figure, and the load average is printed
before and after so figures can be judged. The model is built as the service builds it (IqaModel, so with
IQA_KEEP_HEAP's default: freed maps stay in the heap); the reference runs afterwards in a fresh process
with the C library's default allocator, as the seed's code would run.
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
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage, signal, special  # noqa: E402

from iqa import metrics  # noqa: E402
from iqa.model import IqaModel, IqaSettings, preprocess  # noqa: E402
from liveness.vision.decode import decode_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# --- the reference: seed-style implementations of the same definitions ---------------------------------


def _ref_lmse(ref: np.ndarray, test: np.ndarray) -> float:
    """Per-pixel Python loop over the 4-neighbour Laplacian (reflect-101 borders), as the seed's LMSE."""
    h, w = ref.shape
    a = np.pad(ref, 1, mode="reflect")
    b = np.pad(test, 1, mode="reflect")
    num = den = 0.0
    for i in range(1, h + 1):
        for j in range(1, w + 1):
            la = a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1] - 4 * a[i, j]
            lb = b[i - 1, j] + b[i + 1, j] + b[i, j - 1] + b[i, j + 1] - 4 * b[i, j]
            num += (la - lb) ** 2
            den += la**2
    return num / den


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


def _gauss2d(n: int, sigma: float) -> np.ndarray:
    k = cv2.getGaussianKernel(n, sigma).ravel()
    return np.outer(k, k)


def _ref_ssim(ref: np.ndarray, test: np.ndarray) -> float:
    win = _gauss2d(11, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def conv(a: np.ndarray) -> np.ndarray:
        return signal.convolve2d(a, win, mode="valid")

    mu1, mu2 = conv(ref), conv(test)
    s1 = conv(ref * ref) - mu1**2
    s2 = conv(test * test) - mu2**2
    s12 = conv(ref * test) - mu1 * mu2
    return float(np.mean(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))))


def _ref_vif(ref: np.ndarray, test: np.ndarray) -> float:
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _gauss2d(n, n / 5.0)
        if scale > 1:
            ref = signal.convolve2d(ref, win, mode="valid")[::2, ::2]
            test = signal.convolve2d(test, win, mode="valid")[::2, ::2]
        mu1, mu2 = signal.convolve2d(ref, win, mode="valid"), signal.convolve2d(test, win, mode="valid")
        s1 = np.maximum(signal.convolve2d(ref * ref, win, mode="valid") - mu1**2, 0)
        s2 = np.maximum(signal.convolve2d(test * test, win, mode="valid") - mu2**2, 0)
        s12 = signal.convolve2d(ref * test, win, mode="valid") - mu1 * mu2
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
        num += np.sum(np.log10(1 + g * g * s1 / (sv + 2.0)))
        den += np.sum(np.log10(1 + s1 / 2.0))
    return float(num / den)


def _ref_wavelet(img: np.ndarray, levels: int) -> list[tuple[np.ndarray, ...]]:
    lo = metrics._CDF97_LO.astype(np.float64)
    hi = metrics._CDF97_HI.astype(np.float64)
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


def _ref_biqi(img: np.ndarray, model: metrics.BiqiModel) -> float:
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


def _ref_niqe(img: np.ndarray, model: metrics.NiqeModel) -> float:
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
    grey: np.ndarray, biqi: metrics.BiqiModel, niqe: metrics.NiqeModel, timings: dict[str, float]
) -> np.ndarray:
    """All 25 features, seed style; `timings` collects ms per metric."""
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

    def sobel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ndimage.sobel(a, axis=1, mode="mirror") / 8, ndimage.sobel(a, axis=0, mode="mirror") / 8

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

        r1, r2 = harris(ref), harris(test)
        thr = max(0.01 * r1.max(), 0)
        n1 = np.sum((r1 >= ndimage.maximum_filter(r1, 3, mode="nearest")) & (r1 > thr))
        n2 = np.sum((r2 >= ndimage.maximum_filter(r2, 3, mode="nearest")) & (r2 > thr))
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
    defined = (np.abs(g_ref) > metrics.GRADIENT_EPS) & (np.abs(g_test) > metrics.GRADIENT_EPS)
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
    out["JQI"] = timed("JQI", lambda: metrics.metric("JQI", grey, grey))  # already plain numpy

    def hlfi() -> float:
        mag = np.abs(f_ref)
        low = mag[
            np.ix_(
                np.abs(np.fft.fftfreq(mag.shape[0])) <= 0.075, np.abs(np.fft.fftfreq(mag.shape[1])) <= 0.075
            )
        ]
        return float(abs(low.sum() - (mag.sum() - low.sum())) / mag.sum())

    out["HLFI"] = timed("HLFI", hlfi)
    out["BIQI"] = timed("BIQI", lambda: _ref_biqi(ref, biqi))
    out["NIQE"] = timed("NIQE", lambda: _ref_niqe(ref, niqe))
    return np.array([out[name] for name in metrics.METRICS], dtype=np.float64)


# --- driver ----------------------------------------------------------------------------------------------


def _images(data: Path | None, n: int) -> list[bytes]:
    if data is not None and data.is_dir():
        files = sorted(data.glob("*/*/*.jpg"))[:: max(1, len(sorted(data.glob("*/*/*.jpg"))) // n)][:n]
        if files:
            return [f.read_bytes() for f in files]
    import skimage.data
    from PIL import Image

    img = cv2.resize(skimage.data.astronaut(), (640, 480), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92)
    return [buf.getvalue()] * n


def reference_run(
    jpegs: list[bytes], biqi: metrics.BiqiModel, niqe: metrics.NiqeModel
) -> tuple[list[float], list[float], dict[str, float], list[np.ndarray]]:
    """Decode and compute the reference features of every image: wall ms, CPU ms, per-metric ms, features."""
    cv2.setNumThreads(1)
    timings: dict[str, float] = {}
    wall, cpu, feats = [], [], []
    for data in jpegs:
        t0, c0 = time.perf_counter(), time.process_time()
        grey = cv2.cvtColor(decode_image(data), cv2.COLOR_RGB2GRAY)
        feats.append(reference_features(grey, biqi, niqe, timings))
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu, timings, feats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "nuaa")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--reference-images", type=int, default=3)
    parser.add_argument("--model", type=Path, default=IqaSettings().model_path)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

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
        grey = preprocess(image, art.max_side)
        t1 = time.perf_counter()
        raw = metrics.raw_features(grey, timings, clock=time.process_time)
        feats = metrics.combine(raw, art.biqi, art.niqe)
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
            reference_run, ref_jpegs, art.biqi, art.niqe
        ).result()
    worst = np.zeros(len(metrics.METRICS))
    for data, ref_feats in zip(ref_jpegs, ref_all, strict=True):
        grey = cv2.cvtColor(decode_image(data), cv2.COLOR_RGB2GRAY)
        fast = metrics.features(grey.astype(np.float32), art.biqi, art.niqe)
        worst = np.maximum(worst, np.abs(fast - ref_feats) / np.maximum(np.abs(ref_feats), 1e-9))
    m = len(ref_wall)
    print(f"\n{'metric':6s} {'iqa CPU ms':>10s} {'reference ms':>13s} {'rel. diff':>10s}")
    for i, name in enumerate(metrics.METRICS):
        print(f"{name:6s} {timings[name] / n:10.2f} {ref_timings.get(name, 0.0) / m:13.1f} {worst[i]:10.1e}")
    ours, theirs = statistics.mean(wall), statistics.mean(ref_wall)
    print(f"\nreference per image: {theirs:.0f} ms wall, {statistics.mean(ref_cpu):.0f} ms CPU (mean of {m})")
    cpu_ratio = statistics.mean(ref_cpu) / statistics.mean(cpu)
    print(f"speed-up: {theirs / ours:.0f}x wall, {cpu_ratio:.0f}x CPU (means)")
    best_wall, best_cpu = min(ref_wall) / min(wall), min(ref_cpu) / min(cpu)
    print(f"speed-up of the least disturbed runs: {best_wall:.0f}x wall, {best_cpu:.0f}x CPU")
    med_wall, med_cpu = (
        statistics.median(ref_wall) / statistics.median(wall),
        statistics.median(ref_cpu) / statistics.median(cpu),
    )
    print(f"speed-up of the medians: {med_wall:.0f}x wall, {med_cpu:.0f}x CPU")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
