"""texture.features: the crop, the colour LBP and CoALBP vectors and the distortion measures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from liveness.types import Box
from texture.features import (
    CHANNELS,
    COALBP_CODES,
    COALBP_DIRECTIONS,
    COALBP_SCALES,
    CROP_SIZE,
    DISTORTION_NAMES,
    FEATURE_NAMES,
    LBP_RADII,
    N_BINS,
    N_COALBP,
    N_FEATURES,
    N_LBP,
    coalbp,
    colour_lbp,
    colour_planes,
    distortion,
    face_crop,
    features,
    lbp4_codes,
    lbp_codes,
)


def _histograms(vector: np.ndarray) -> np.ndarray:
    return vector.reshape(len(CHANNELS) * len(LBP_RADII), N_BINS)


def test_vector_is_one_unit_length_histogram_per_channel_and_radius() -> None:
    face = np.random.default_rng(0).integers(0, 256, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    v = colour_lbp(face)
    assert v.shape == (N_LBP,) == (708,)
    # square roots of normalised histograms: each block's squares sum to 1
    np.testing.assert_allclose((_histograms(v) ** 2).sum(axis=1), 1.0, rtol=1e-12)


def test_flat_crop_puts_every_inner_pixel_in_one_pattern() -> None:
    v = colour_lbp(np.full((CROP_SIZE, CROP_SIZE, 3), 128, np.uint8))
    # sqrt of the share of the dominant pattern; only the border (neighbours outside the crop) differs
    assert (_histograms(v).max(axis=1) >= np.sqrt(1 - 4 * 2 / CROP_SIZE)).all()


def test_texture_changes_the_vector_but_a_shift_in_brightness_of_a_flat_patch_does_not() -> None:
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    smooth = np.ascontiguousarray(cv2.GaussianBlur(noisy, (0, 0), 3.0))
    assert np.abs(colour_lbp(noisy) - colour_lbp(smooth)).sum() > 1.0
    dark, bright = (np.full((CROP_SIZE, CROP_SIZE, 3), v, np.uint8) for v in (40, 200))
    np.testing.assert_array_equal(colour_lbp(dark), colour_lbp(bright))


def test_planes_are_h_s_v_y_cb_cr() -> None:
    red = np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8)
    red[..., 0] = 255
    h, s, v, y, cb, cr = (int(p[0, 0]) for p in colour_planes(red))
    assert (h, s, v) == (0, 255, 255)
    assert cr > 200 and cb < 128 and y == 76  # red: Cr high, Cb low; Y = 0.299 * 255


@pytest.mark.parametrize("shape", [(CROP_SIZE, CROP_SIZE), (32, 32, 3), (CROP_SIZE, CROP_SIZE, 4)])
def test_wrong_crop_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="crop"):
        colour_lbp(np.zeros(shape, np.uint8))


def test_face_crop_is_the_box_resized_with_edges_repeated_outside_the_frame() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :50] = 255
    out = face_crop(image, Box(-20.0, 20.0, 40.0, 80.0))  # the box starts 20 px left of the frame
    assert out.shape == (CROP_SIZE, CROP_SIZE, 3) and out.dtype == np.uint8
    assert out[:, 0].min() == 255  # the frame's white left edge repeated, not black


def test_lbp_codes_equal_scikit_images_nri_uniform_on_real_and_random_planes() -> None:
    """The serving code's numpy LBP is scikit-image's, label for label (scikit-image is a test dependency)."""
    from skimage.data import astronaut, coffee
    from skimage.feature import local_binary_pattern

    rng = np.random.default_rng(4)
    planes = [rng.integers(0, 256, (40, 52), dtype=np.uint8), np.full((20, 20), 128, np.uint8)]
    for image in (astronaut(), coffee()):
        face = face_crop(image, Box(150.0, 60.0, 260.0, 170.0))
        planes += colour_planes(face)
    for plane in planes:
        for radius in LBP_RADII:
            expected = local_binary_pattern(plane, 8, radius, method="nri_uniform").astype(np.intp)
            np.testing.assert_array_equal(lbp_codes(plane, 8, radius), expected)


def test_a_stack_of_planes_gets_each_planes_labels_and_histograms() -> None:
    """colour_lbp labels the six planes as one stack: the same labels and histograms as plane by plane."""
    from skimage.data import astronaut

    face = face_crop(astronaut(), Box(150.0, 60.0, 260.0, 170.0))
    planes = colour_planes(face)
    stacked = {r: lbp_codes(np.stack(planes), 8, r) for r in LBP_RADII}
    parts = []
    for k, radius in ((k, r) for k in range(len(planes)) for r in LBP_RADII):
        single = lbp_codes(planes[k], 8, radius)
        np.testing.assert_array_equal(stacked[radius][k], single)
        hist = np.bincount(single.ravel(), minlength=N_BINS).astype(np.float64)
        parts.append(np.sqrt(hist / hist.sum()))
    np.testing.assert_array_equal(colour_lbp(face), np.concatenate(parts))
    with pytest.raises(ValueError, match="plane"):
        lbp_codes(np.zeros((2, 3, 8, 8), np.uint8), 8, 1)


def _face_like(seed: int = 5) -> np.ndarray:
    """A skin-toned crop with fine texture: noise on a warm base colour."""
    rng = np.random.default_rng(seed)
    base = np.array([190.0, 140.0, 120.0])
    return np.clip(base + rng.normal(0, 25, (CROP_SIZE, CROP_SIZE, 3)), 0, 255).astype(np.uint8)


def _d(face: np.ndarray, name: str) -> float:
    return float(distortion(face)[DISTORTION_NAMES.index(name)])


def test_feature_vector_is_lbp_coalbp_then_nineteen_named_distortion_measures() -> None:
    face = _face_like()
    v = features(face)
    assert v.shape == (N_FEATURES,) == (N_LBP + N_COALBP + 19,) and len(FEATURE_NAMES) == N_FEATURES
    assert len(set(FEATURE_NAMES)) == N_FEATURES and N_COALBP == 3 * 4 * 256
    np.testing.assert_array_equal(v[:N_LBP], colour_lbp(face))
    np.testing.assert_array_equal(v[N_LBP : N_LBP + N_COALBP], coalbp(face))
    np.testing.assert_array_equal(v[N_LBP + N_COALBP :], distortion(face))
    assert FEATURE_NAMES[N_LBP] == "coalbp_H_r1_right_0" and FEATURE_NAMES[N_LBP + N_COALBP] == "V_mean"
    assert np.isfinite(v).all()
    assert np.isfinite(distortion(np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8))).all()  # flat black


def test_blur_lowers_sharpness_and_the_finest_band_share() -> None:
    sharp = _face_like()
    soft = np.ascontiguousarray(cv2.GaussianBlur(sharp, (0, 0), 1.2))
    for name in ("sharpness", "fine_detail", "dog_band_0.5", "sharpness_G"):
        assert _d(soft, name) < _d(sharp, name) - 0.5, name
    assert _d(soft, "dog_band_4.0") > _d(sharp, "dog_band_4.0")


def test_sharpness_does_not_depend_on_contrast() -> None:
    face = _face_like().astype(np.float64)
    low = np.clip(128 + (face - 128) * 0.5, 0, 255).astype(np.uint8)
    assert abs(_d(low, "sharpness") - _d(face.astype(np.uint8), "sharpness")) < 0.1


def test_a_chroma_cast_leaves_the_luminance_measures_alone() -> None:
    """Version 2.2.0 has no colour-cast statistics: tinting the face (Cr + 12, Cb - 8, luma kept) moves
    none of the luminance measures beyond the rounding of the colour conversions."""
    face = _face_like()
    ycrcb = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb).astype(np.int16)
    ycrcb[..., 1] += 12
    ycrcb[..., 2] -= 8
    pink = cv2.cvtColor(np.clip(ycrcb, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    for name in ("Y_mean", "Y_std", "sharpness", "fine_detail", "dog_band_0.5", "dog_band_4.0"):
        assert _d(pink, name) == pytest.approx(_d(face, name), rel=0.05, abs=0.02), name
    assert not any(n.startswith(("hue", "S_", "Cr_", "Cb_")) for n in DISTORTION_NAMES)


def test_glare_and_diversity_are_measured() -> None:
    face = _face_like()
    glare = face.copy()
    glare[:16, :16] = 250
    assert _d(face, "specular") == 0.0 and _d(glare, "specular") == pytest.approx(256 / CROP_SIZE**2)
    flat = np.full((CROP_SIZE, CROP_SIZE, 3), 128, np.uint8)
    assert _d(flat, "colour_diversity") == pytest.approx(0.01)  # one colour out of 512 bins, /100
    assert _d(face, "colour_diversity") > _d(flat, "colour_diversity")


def test_distortion_refuses_a_wrong_crop() -> None:
    with pytest.raises(ValueError, match="crop"):
        distortion(np.zeros((32, 32, 3), np.uint8))


def test_four_neighbour_codes_of_a_ramp() -> None:
    """Columns rising to the right: the right neighbour is higher, the left one lower, up and down equal
    (>= counts); beyond the edges the edge pixel repeats, so the first column's left neighbour is equal."""
    ramp = np.tile(np.arange(0, 160, 10, dtype=np.uint8), (12, 1))
    for radius in (1, 2, 4):
        code = lbp4_codes(ramp, radius)
        up, right, down, left = 1, 2, 4, 8
        assert (code[:, 1:] == up | right | down).all()
        assert (code[:, 0] == up | right | down | left).all()
    assert (lbp4_codes(np.full((8, 8), 7, np.uint8), 2) == 15).all()


def test_coalbp_histograms_pair_codes_in_their_direction() -> None:
    """Each of the 3 x 4 joint histograms is normalised and square-rooted (unit length). A face whose hue
    changes only from column to column pairs equal codes vertically: its "down" histograms lie on the
    diagonal (code, code), its "right" ones do not."""
    face = _face_like()
    hists = coalbp(face).reshape(len(COALBP_SCALES) * len(COALBP_DIRECTIONS), COALBP_CODES**2)
    np.testing.assert_allclose((hists**2).sum(axis=1), 1.0)
    flat = np.full((CROP_SIZE, CROP_SIZE, 3), (200, 120, 100), np.uint8)
    assert (coalbp(flat).reshape(hists.shape) == np.eye(COALBP_CODES**2)[-1]).all()  # every code 15
    hue = np.tile(np.linspace(0, 170, CROP_SIZE).astype(np.uint8), (CROP_SIZE, 1))
    hsv = np.stack([hue, np.full_like(hue, 200), np.full_like(hue, 200)], axis=-1)
    stripes = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    by_direction = coalbp(stripes).reshape(len(COALBP_SCALES), len(COALBP_DIRECTIONS), COALBP_CODES**2)
    diagonal = np.arange(COALBP_CODES) * (COALBP_CODES + 1)
    names = [name for name, _, _ in COALBP_DIRECTIONS]
    for scale in by_direction:
        down = scale[names.index("down")] ** 2
        right = scale[names.index("right")] ** 2
        assert down[diagonal].sum() == pytest.approx(1.0)
        assert right[diagonal].sum() < 1.0
    with pytest.raises(ValueError, match="crop"):
        coalbp(np.zeros((32, 32, 3), np.uint8))
