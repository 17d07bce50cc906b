"""Each Galbally measure on small synthetic cases with known values, and against independent code."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from iqa import quality


@pytest.fixture(scope="module")
def pair(camera: quality.Grey) -> tuple[quality.Grey, quality.Grey]:
    """A 128x96 crop of the cameraman and its 5x5 Gaussian blur."""
    ref = np.ascontiguousarray(camera[200:296, 200:328])
    return ref, quality.blur(ref)


IDENTICAL = {
    "MSE": 0.0, "PSNR": quality.PSNR_CAP_DB, "SNR": quality.PSNR_CAP_DB, "SC": 1.0, "MD": 0.0, "AD": 0.0,
    "NAE": 0.0, "RAMD": 0.0, "LMSE": 0.0, "NXC": 1.0, "MAS": 1.0, "MAMS": 0.0, "TED": 0.0, "TCD": 0.0,
    "SME": 0.0, "SPE": 0.0, "GME": 0.0, "GPE": 0.0, "SSIM": 1.0, "VIF": 1.0, "RRED": 0.0,
}  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), sorted(IDENTICAL.items()))
def test_identical_images(name: str, expected: float, camera: quality.Grey) -> None:
    img = camera[:64, :80]
    assert quality.metric(name, img, img.copy()) == pytest.approx(expected, abs=1e-5)


def test_model_free_metrics_are_the_table_order_without_biqi_and_niqe() -> None:
    assert quality.MODEL_FREE + ("BIQI", "NIQE") == quality.METRICS
    assert len(quality.METRICS) == 25 and len(set(quality.METRICS)) == 25


# A flat grey 100 against a flat grey 90: every pixel differs by 10.
FLAT = {
    "MSE": 100.0,
    "PSNR": 10 * math.log10(100.0**2 / 100.0),
    "SNR": 10 * math.log10(100.0**2 / 10.0**2),
    "SC": 100.0**2 / 90.0**2,
    "MD": 10.0,
    "AD": 10.0,
    "NAE": 0.1,
    "RAMD": 10.0,
    "NXC": 0.9,
    "MAS": 1.0,  # parallel rows
    "MAMS": 10.0 / 255.0,
    "LMSE": 0.0,  # a flat image has no Laplacian energy: 0 by convention
    "TED": 0.0,
    "TCD": 0.0,
    "SPE": 0.0,
}


@pytest.mark.parametrize(("name", "expected"), sorted(FLAT.items()))
def test_flat_offset_known_values(name: str, expected: float) -> None:
    ref = np.full((32, 48), 100.0, np.float32)
    test = np.full((32, 48), 90.0, np.float32)
    assert quality.metric(name, ref, test) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_sme_of_a_flat_offset_is_the_dc_term_only() -> None:
    ref = np.full((32, 48), 100.0, np.float32)
    test = np.full((32, 48), 90.0, np.float32)
    n = ref.size
    assert quality.metric("SME", ref, test) == pytest.approx((10.0 * n) ** 2 / n, rel=1e-5)


def test_pixel_metrics_against_plain_numpy(pair: tuple[quality.Grey, quality.Grey]) -> None:
    ref, test = (a.astype(np.float64) for a in pair)
    d = ref - test
    assert quality.metric("MSE", *pair) == pytest.approx(np.mean(d**2), rel=1e-6)
    assert quality.metric("SNR", *pair) == pytest.approx(
        10 * np.log10(np.sum(ref**2) / np.sum(d**2)), rel=1e-6
    )
    assert quality.metric("PSNR", *pair) == pytest.approx(
        10 * np.log10(ref.max() ** 2 / np.mean(d**2)), rel=1e-6
    )
    assert quality.metric("RAMD", *pair) == pytest.approx(np.sort(np.abs(d).ravel())[-10:].mean(), rel=1e-6)
    assert quality.metric("NAE", *pair) == pytest.approx(np.abs(d).sum() / np.abs(ref).sum(), rel=1e-6)


def test_lmse_uses_the_four_neighbour_laplacian(pair: tuple[quality.Grey, quality.Grey]) -> None:
    ref, test = (np.pad(a.astype(np.float64), 1, mode="reflect") for a in pair)

    def lap(a: np.ndarray) -> np.ndarray:
        return a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]

    expected = np.sum((lap(ref) - lap(test)) ** 2) / np.sum(lap(ref) ** 2)
    assert quality.metric("LMSE", *pair) == pytest.approx(expected, rel=1e-5)


def test_ssim_matches_scikit_image(pair: tuple[quality.Grey, quality.Grey]) -> None:
    ref, test = pair
    expected = structural_similarity(
        ref, test, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert quality.metric("SSIM", ref, test) == pytest.approx(expected, abs=1e-4)


def test_spectral_metrics_match_the_full_fft(pair: tuple[quality.Grey, quality.Grey]) -> None:
    ref, test = (a.astype(np.float64) for a in pair)
    f, g = np.fft.fft2(ref), np.fft.fft2(test)
    sme = np.mean((np.abs(f) - np.abs(g)) ** 2)
    spe = np.mean(np.angle(f * np.conj(g)) ** 2)
    assert quality.metric("SME", *pair) == pytest.approx(sme, rel=1e-4)
    assert quality.metric("SPE", *pair) == pytest.approx(spe, rel=1e-3)
    mag = np.abs(f)
    low = mag[
        np.ix_(np.abs(np.fft.fftfreq(ref.shape[0])) <= 0.075, np.abs(np.fft.fftfreq(ref.shape[1])) <= 0.075)
    ]
    hlfi = abs(low.sum() - (mag.sum() - low.sum())) / mag.sum()
    assert quality.metric("HLFI", *pair) == pytest.approx(hlfi, rel=1e-4)


def test_abs_phase_is_float64_atan2_to_float32_precision() -> None:
    rng = np.random.default_rng(11)
    scale = 10.0 ** rng.uniform(-3, 6, (2, 64, 96))
    re, im = (rng.standard_normal((2, 64, 96)) * scale).astype(np.float32)
    # Both axes, both signs, the origin, and a vector just off the negative axis (angle near pi).
    re[0, :6] = [0.0, 1.0, -1.0, 0.0, 0.0, -1.0]
    im[0, :6] = [0.0, 0.0, 0.0, 1.0, -1.0, 1e-6]
    expected = np.abs(np.arctan2(im.astype(np.float64), re.astype(np.float64)))
    got = quality._abs_phase(re.copy(), im.copy())
    assert got.dtype == np.float32 and got.shape == re.shape
    assert got[0, 0] == 0.0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_spe_is_the_half_spectrum_phase_difference(pair: tuple[quality.Grey, quality.Grey]) -> None:
    """SPE from OpenCV's product and phase equals NumPy's angle of F conj(G) on the same half spectra."""
    ref, test = pair
    f, g = quality._HalfSpectrum.of(ref), quality._HalfSpectrum.of(test)
    inner = np.angle(f.inner.astype(np.complex128) * np.conj(g.inner.astype(np.complex128)))
    edges = np.angle(f.edges.astype(np.complex128) * np.conj(g.edges.astype(np.complex128)))
    expected = (2.0 * np.sum(inner**2) + np.sum(edges**2)) / ref.size
    assert quality.metric("SPE", ref, test) == pytest.approx(expected, rel=1e-6)


def test_odd_sized_images_are_handled(camera: quality.Grey) -> None:
    img = camera[:33, :47]
    values = [quality.metric(name, img, quality.blur(img)) for name in quality.MODEL_FREE]
    assert np.isfinite(values).all()


def test_blur_lowers_similarity_monotonically(camera: quality.Grey) -> None:
    ref = camera[100:228, 100:260]
    mild, strong = cv2.GaussianBlur(ref, (0, 0), 0.8), cv2.GaussianBlur(ref, (0, 0), 3.0)
    for name in ("SSIM", "VIF", "NXC"):
        assert quality.metric(name, ref, mild) > quality.metric(name, ref, strong), name
    for name in ("MSE", "LMSE", "GME", "SME", "TED"):
        assert quality.metric(name, ref, mild) < quality.metric(name, ref, strong), name


def test_jqi_scores_heavy_jpeg_lower(camera: quality.Grey) -> None:
    img = camera.astype(np.uint8)

    def jpeg(q: int) -> quality.Grey:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)

    bad, good = jpeg(5), jpeg(90)
    assert quality.metric("JQI", bad, bad) < quality.metric("JQI", good, good)


def test_ggd_fit_recovers_gaussian_and_laplacian_shapes() -> None:
    rng = np.random.default_rng(0)
    shape, var = quality.ggd_fit(rng.normal(0, 3, 200_000))
    assert shape == pytest.approx(2.0, abs=0.05) and var == pytest.approx(9.0, rel=0.02)
    shape, _ = quality.ggd_fit(rng.laplace(0, 1, 200_000))
    assert shape == pytest.approx(1.0, abs=0.05)


def test_aggd_fit_of_a_symmetric_gaussian() -> None:
    x = np.random.default_rng(1).normal(0, 2, (3, 100_000))
    shape, mean, left, right = quality.aggd_fit(x)
    np.testing.assert_allclose(shape, 2.0, atol=0.06)
    np.testing.assert_allclose(mean, 0.0, atol=0.05)
    np.testing.assert_allclose(left, 4.0, rtol=0.03)
    np.testing.assert_allclose(right, 4.0, rtol=0.03)


def test_niqe_is_zero_against_its_own_patches_and_grows_with_noise(camera: quality.Grey) -> None:
    feats, sharp = quality.niqe_patch_features(camera)
    assert feats.shape == (25, 36) and sharp.shape == (25,)  # 512 // 96 = 5 patches a side
    model = quality.NiqeModel.fit(feats)
    assert model.distance(feats) == pytest.approx(0.0, abs=1e-6)
    noisy = camera + np.random.default_rng(0).normal(0, 20, camera.shape).astype(np.float32)
    assert model.distance(quality.niqe_patch_features(noisy)[0]) > 1.0


def test_pristine_patches_keep_the_sharpest() -> None:
    feats = np.arange(8, dtype=np.float64).reshape(4, 2)
    kept = quality.pristine_patches(feats, np.array([1.0, 10.0, 7.4, 7.5]))
    np.testing.assert_array_equal(kept, feats[[1, 3]])


def test_biqi_is_the_probability_weighted_quality() -> None:
    model = quality.BiqiModel(
        feature_mean=np.zeros(18),
        feature_scale=np.ones(18),
        class_coef=np.zeros((4, 18)),
        class_intercept=np.log([1.0, 1.0, 2.0, 4.0]),
        quality_coef=np.zeros((4, 18)),
        quality_intercept=np.array([10.0, 20.0, 40.0, 80.0]),
    )
    # P = (1, 1, 2, 4) / 8 -> (10 + 20 + 80 + 320) / 8
    assert model.score(np.zeros(18)) == pytest.approx(430.0 / 8.0)
    restored = quality.BiqiModel.from_arrays(model.arrays())
    assert restored.score(np.ones(18)) == pytest.approx(model.score(np.ones(18)))


def test_biqi_features_have_18_finite_values(camera: quality.Grey) -> None:
    feats = quality.biqi_features(camera)
    assert feats.shape == (18,) and np.isfinite(feats).all()
    assert np.all(feats[1::2] > 0)  # GGD shapes


@pytest.mark.parametrize("clock", [time.perf_counter, time.process_time])
def test_raw_features_and_per_metric_timings(camera: quality.Grey, clock: Callable[[], float]) -> None:
    timings: dict[str, float] = {}
    raw = quality.raw_features(camera, timings, clock=clock)
    assert raw.model_free.shape == (23,) and raw.biqi.shape == (18,) and raw.niqe_patches.shape[1] == 36
    assert set(timings) == set(quality.METRICS) and all(t >= 0 for t in timings.values())


@pytest.mark.parametrize("shape", [(32, 32), (48, 200)])
def test_small_and_flat_images_give_finite_features(shape: tuple[int, int]) -> None:
    for img in (
        np.zeros(shape, np.float32),
        np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32),
    ):
        raw = quality.raw_features(img)
        assert np.isfinite(raw.model_free).all() and np.isfinite(raw.biqi).all()
        assert np.isfinite(raw.niqe_patches).all()


@pytest.mark.parametrize(("shape", "n"), [((60, 80), 9), ((61, 79), 9), ((33, 40), 5), ((20, 17), 3)])
def test_vif_decimation_is_filter_then_every_other_pixel(shape: tuple[int, int], n: int) -> None:
    img = np.random.default_rng(2).uniform(0, 255, shape).astype(np.float32)
    k = quality._gauss_kernel(n, n / 5.0)
    half = n // 2
    full = cv2.sepFilter2D(img.astype(np.float64), cv2.CV_64F, k.astype(np.float64), k.astype(np.float64))
    expected = full[half : shape[0] - half, half : shape[1] - half][::2, ::2]
    got = quality._vif_decimate(img, k)
    assert got.shape == expected.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)


def _vif_float64(ref: np.ndarray, test: np.ndarray) -> float:
    """VIFp as LIVE's reference code computes it, in float64 (2-D windows, explicit gain rules)."""

    def conv(a: np.ndarray, win: np.ndarray) -> np.ndarray:
        kk = win.shape[0]
        out = cv2.filter2D(a, cv2.CV_64F, win, borderType=cv2.BORDER_CONSTANT)
        return out[kk // 2 : a.shape[0] - kk // 2, kk // 2 : a.shape[1] - kk // 2]

    r, t = ref.astype(np.float64), test.astype(np.float64)
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        k = cv2.getGaussianKernel(n, n / 5.0)
        win = k @ k.T
        if scale > 1:
            r, t = conv(r, win)[::2, ::2], conv(t, win)[::2, ::2]
        mu1, mu2 = conv(r, win), conv(t, win)
        s1 = conv(r * r, win) - mu1**2
        s2 = conv(t * t, win) - mu2**2
        s12 = conv(r * t, win) - mu1 * mu2
        scale_num, scale_den = quality.vif_reference_sums(s1, s2, s12)
        num += scale_num
        den += scale_den
    return float(num / den)


def test_vif_information_floors_sv_as_the_reference_does() -> None:
    """A gain inflated by a tiny sigma1^2 (float32 rounding beside saturated pixels) drives sv below
    -sigma_n^2; the reference floors sv at 1e-10, so the term stays finite (it was NaN without the floor)."""
    # Columns: the inflated gain; an ordinary patch; a flat reference; a flat distorted patch; a negative
    # covariance. Local means 0, so s1, s2, s12 are the variances and the covariance themselves.
    s1 = np.array([[0.00390625, 10.0, 0.0, 9.0, 6.0]], np.float32)
    s2 = np.array([[20.0, 8.0, 5.0, 0.0, 4.0]], np.float32)
    s12 = np.array([[0.40625, 7.0, 1.0, 0.0, -3.0]], np.float32)
    zeros = np.zeros_like(s1)
    num, den = quality._vif_information(zeros, zeros.copy(), s1.copy(), s2.copy(), s12.copy(), 2.0)
    expected = quality.vif_reference_sums(s1, s2, s12)
    assert math.isfinite(num) and math.isfinite(den)
    assert (num, den) == pytest.approx(expected, rel=1e-6)


def test_vif_applies_the_reference_gain_rules(camera: quality.Grey) -> None:
    """Flat patches in either image and negative gains (an inverted region) follow the reference code."""
    ref = np.ascontiguousarray(camera[100:228, 100:260])
    ref[:40, :60] = 255.0  # flat in both images
    test = quality.blur(ref)
    test[60:110, 20:80] = 255.0 - test[60:110, 20:80]  # anti-correlated: negative gains
    test[70:120, 100:150] = 128.0  # flat in the distorted image only
    assert quality.metric("VIF", ref, test) == pytest.approx(_vif_float64(ref, test), rel=1e-4)


def test_gpe_ignores_flat_pixels_and_matches_plain_numpy(camera: quality.Grey) -> None:
    ref = np.ascontiguousarray(camera[200:296, 200:328])
    ref[:30, :30] = 100.0  # flat: no gradient direction there
    test = quality.blur(ref)

    def grad(a: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(a.astype(np.float64), cv2.CV_64F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(a.astype(np.float64), cv2.CV_64F, 0, 1, ksize=3, scale=0.125)
        return gx + 1j * gy

    a, b = grad(ref), grad(test)
    defined = (np.abs(a) > quality.GRADIENT_EPS) & (np.abs(b) > quality.GRADIENT_EPS)
    expected = np.mean(np.where(defined, np.angle(a * np.conj(b)), 0.0) ** 2)
    assert quality.metric("GPE", ref, test) == pytest.approx(expected, rel=1e-4)


def test_half_spectrum_is_numpys_rfft2() -> None:
    img = np.random.default_rng(4).uniform(0, 255, (24, 36)).astype(np.float32)
    spec = quality._HalfSpectrum.of(img)
    expected = np.fft.rfft2(img.astype(np.float64))
    np.testing.assert_allclose(spec.inner, expected[:, 1:18], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(spec.edges, expected[:, [0, 18]], rtol=1e-4, atol=1e-2)
    assert spec.shape == (24, 36)


def test_row_angles_match_arccos_including_zero_rows(camera: quality.Grey) -> None:
    ref = np.ascontiguousarray(camera[:40, :64])
    test = quality.blur(ref)
    ref[3] = 0.0  # a black row against a non-black one: unit vector 0, angle pi/4 -> 1.0 after scaling
    test[5] = 0.0
    ref[7] = test[7] = 0.0  # two black rows: angle 0
    r, t = ref.astype(np.float64), test.astype(np.float64)
    angles = []
    for i in range(r.shape[0]):
        nr, nt = np.linalg.norm(r[i]), np.linalg.norm(t[i])
        a = r[i] / nr if nr > 0 else np.zeros_like(r[i])
        b = t[i] / nt if nt > 0 else np.zeros_like(t[i])
        angles.append(4 / np.pi * np.arctan2(np.linalg.norm(a - b), np.linalg.norm(a + b)))
    expected = np.array(angles)
    assert expected[3] == pytest.approx(1.0) and expected[5] == pytest.approx(1.0) and expected[7] == 0.0
    assert quality.metric("MAS", ref, test) == pytest.approx(1.0 - expected.mean(), rel=1e-9)
    magnitude = np.linalg.norm(r - t, axis=1) / (255.0 * np.sqrt(r.shape[1]))
    mams = np.mean(1.0 - (1.0 - expected) * (1.0 - magnitude))
    assert quality.metric("MAMS", ref, test) == pytest.approx(mams, rel=1e-7)
