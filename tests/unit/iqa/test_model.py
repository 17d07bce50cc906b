"""IqaModel: artifact loading, LDA-from-arrays parity with scikit-learn, settings, check() statuses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from iqa import quality
from iqa.model import (
    IqaArtifact,
    IqaModel,
    IqaSettings,
    clip_frame_indexes,
    dft_friendly_side,
    grey_std,
    log_compress,
    preprocess,
)
from iqa.train import FEATURES, fit_lda
from liveness.types import CheckOptions, Media, Status


@pytest.mark.parametrize("log_features", [False, True])
def test_lda_from_arrays_equals_sklearn_predict_proba(log_features: bool) -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (80, 25)), rng.normal(0.4, 1.5, (70, 25))]) * rng.uniform(0.1, 1e4, 25)
    y = np.array([False] * 80 + [True] * 70)
    clf = fit_lda(x, y, log_features=log_features)
    t = log_compress if log_features else np.asarray
    scaler = StandardScaler().fit(t(x))
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(
        scaler.transform(t(x)), y.astype(int)
    )
    probe = rng.normal(0.2, 1.2, (40, 25)) * x.std(axis=0)
    expected = lda.predict_proba(scaler.transform(t(probe)))[:, 1]
    np.testing.assert_allclose(clf.proba(probe), expected, atol=1e-12)
    assert clf.log_features == log_features


def test_log_compress() -> None:
    np.testing.assert_allclose(log_compress(np.array([-(np.e - 1), 0.0, np.e**2 - 1])), [-1.0, 0.0, 2.0])


def test_committed_artifact_loads_without_pickle() -> None:
    settings = IqaSettings()
    if not settings.model_path.is_file():
        pytest.skip(f"{settings.model_path.name} not trained yet")
    artifact = IqaArtifact.load(settings.model_path)
    assert artifact.feature_names == FEATURES  # since 1.7.0 19 of the 25 (not NIQE, VIF, SSIM, TCD, SME, SPE)
    assert artifact.classifier.coef.shape == (19,) and np.isfinite(artifact.classifier.coef).all()
    assert artifact.niqe is None and artifact.biqi.class_coef.shape[1] == 18
    assert 0.0 < artifact.threshold < 1.0


def test_a_model_reads_only_its_features_and_computes_only_those(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving computes the artifact's measures alone, and they equal those of the whole computation the
    training caches; NIQE and VIF, left out of 1.6.0, are never computed."""
    grey = preprocess(np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8), 640, 0.7)
    biqi = IqaArtifact.load(IqaSettings().model_path).biqi
    whole = quality.combine(quality.raw_features(grey), biqi, None, FEATURES)
    timings: dict[str, float] = {}
    part = quality.raw_features(grey, timings, measures=FEATURES)
    assert set(timings) == set(FEATURES)
    np.testing.assert_array_equal(quality.combine(part, biqi, None, FEATURES), whole)
    np.testing.assert_array_equal(quality.features(grey, biqi, None, FEATURES), whole)
    with pytest.raises(ValueError, match="no NIQE model"):
        quality.combine(part, biqi, None)  # all 25 need NIQE's model


def test_artifact_round_trip(tiny_artifact_path: Path, tmp_path: Path) -> None:
    artifact = IqaArtifact.load(tiny_artifact_path)
    artifact.save(tmp_path / "copy.npz")
    again = IqaArtifact.load(tmp_path / "copy.npz")
    x = np.random.default_rng(0).normal(size=(5, 25))
    np.testing.assert_array_equal(artifact.classifier.proba(x), again.classifier.proba(x))
    assert again.version == "test-1" and again.max_side == 160
    assert again.classifier.log_features == artifact.classifier.log_features


def test_calibration_is_a_sigmoid_of_the_lda_decision_and_survives_the_artifact(
    tiny_artifact_path: Path, tmp_path: Path
) -> None:
    artifact = IqaArtifact.load(tiny_artifact_path)
    calibrated = artifact.classifier.calibrated(0.25, -1.5)
    x = np.random.default_rng(1).normal(size=(6, 25))
    d = calibrated.decision(x)
    np.testing.assert_allclose(calibrated.proba(x), expit(0.25 * d - 1.5), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(calibrated.uncalibrated().proba(x), artifact.classifier.proba(x))
    replace(artifact, classifier=calibrated).save(tmp_path / "calibrated.npz")
    again = IqaArtifact.load(tmp_path / "calibrated.npz").classifier
    assert (again.platt_slope, again.platt_offset) == (0.25, -1.5)
    np.testing.assert_array_equal(again.proba(x), calibrated.proba(x))


def test_artifact_with_other_features_is_refused(tiny_artifact_path: Path, tmp_path: Path) -> None:
    with np.load(tiny_artifact_path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["feature_names"] = arrays["feature_names"][::-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="feature names"):
        IqaArtifact.load(tmp_path / "bad.npz")


def test_settings_from_env() -> None:
    s = IqaSettings.from_env(
        {"IQA_MODEL_PATH": "m.npz", "IQA_THREADS": "2", "IQA_CLIP_FRAMES": "5", "IQA_MIN_CONTRAST": "3"}
    )
    assert s.model_path == Path("m.npz") and s.threads == 2 and s.clip_frames == 5 and s.min_contrast == 3.0
    assert IqaSettings.from_env({}) == IqaSettings()


@pytest.mark.parametrize(
    "env",
    [
        {"IQA_THREADS": "0"},
        {"IQA_THREADS": "two"},
        {"IQA_CLIP_FRAMES": "-1"},
        {"IQA_MIN_CONTRAST": "x"},
        {"IQA_MIN_CONTRAST": "-1"},
    ],
)
def test_bad_settings_fail_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        IqaSettings.from_env(env)


def test_missing_model_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        IqaModel(IqaSettings(model_path=tmp_path / "none.npz"))


@pytest.mark.parametrize(
    ("n", "count", "expected"),
    [(1, 3, [0]), (9, 1, [4]), (9, 3, [0, 4, 8]), (2, 3, [0, 1]), (10, 3, [0, 4, 9]), (0, 3, [])],
)
def test_clip_frame_indexes(n: int, count: int, expected: list[int]) -> None:
    assert clip_frame_indexes(n, count) == expected


def test_preprocess_downscales_only() -> None:
    big = np.zeros((960, 1280, 3), np.uint8)
    small = np.zeros((100, 50, 3), np.uint8)
    assert preprocess(big, 640).shape == (480, 640)
    assert preprocess(small, 640).shape == (100, 50)
    assert preprocess(big, 640).dtype == np.float32


def test_preprocess_keeps_the_central_part_after_downscaling() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    whole = preprocess(image, 640)
    part = preprocess(image, 640, 0.8)
    assert part.shape == (384, 512) and part.flags.c_contiguous
    np.testing.assert_array_equal(part, whole[48:432, 64:576])  # the same pixels, around the centre
    big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # 960x1280: downscaled to 640 first
    assert preprocess(big, 640, 0.8).shape == (384, 512)
    # 0.8 of 512 is 410 = 2 x 5 x 41, whose DFT is slow: the side comes down to 400 (2^4 x 5^2).
    square = preprocess(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8), 640, 0.8)
    assert square.shape == (400, 400)
    assert preprocess(image[:3, :3], 640, 0.1).shape == (1, 1)  # at least one pixel a side
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="centre"):
            preprocess(image, 640, bad)


@pytest.mark.parametrize(
    ("n", "expected"), [(410, 400), (400, 400), (384, 384), (383, 360), (7, 6), (3, 2), (2, 2), (1, 1)]
)
def test_dft_friendly_side(n: int, expected: int) -> None:
    assert dft_friendly_side(n) == expected


def test_artifact_keeps_its_centre_and_older_ones_score_the_whole_image(
    tiny_artifact_path: Path, tmp_path: Path, sharp_rgb: np.ndarray
) -> None:
    artifact = IqaArtifact.load(tiny_artifact_path)
    assert artifact.centre == 1.0
    replace(artifact, centre=0.8).save(tmp_path / "centre.npz")
    assert IqaArtifact.load(tmp_path / "centre.npz").centre == 0.8
    with np.load(tmp_path / "centre.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "centre"}  # an artifact from before 1.4.0
    np.savez(tmp_path / "old.npz", **arrays)
    assert IqaArtifact.load(tmp_path / "old.npz").centre == 1.0
    arrays["centre"] = np.array(0.0)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="centre"):
        IqaArtifact.load(tmp_path / "bad.npz")
    # The service scores what the artifact says: its features are those of the central part.
    model = IqaModel(IqaSettings(model_path=tmp_path / "centre.npz"))
    feats, _ = model.features(sharp_rgb)
    grey = preprocess(sharp_rgb, artifact.max_side, 0.8)
    np.testing.assert_array_equal(feats, quality.features(grey, artifact.biqi, artifact.niqe))


@pytest.fixture()
def model(tiny_artifact_path: Path) -> IqaModel:
    return IqaModel(IqaSettings(model_path=tiny_artifact_path, clip_frames=3))


def test_info(model: IqaModel) -> None:
    info = model.info
    assert info.name == "iqa" and info.version == "test-1"
    assert info.accepts_image and info.accepts_clip and not info.needs_face
    assert info.max_frames == 3 and info.recommended_threshold == 0.5


def test_check_image(model: IqaModel, sharp_rgb: np.ndarray) -> None:
    media = Media(frames=(sharp_rgb,), timestamps_ms=(0,), is_clip=False)
    result = model.check(media, [], CheckOptions())
    assert result.status == Status.OK and 0.0 <= result.score <= 1.0
    expected, _ = model.score_image(sharp_rgb)
    assert result.score == pytest.approx(expected)


def test_check_clip_averages_evenly_spaced_frames(model: IqaModel, sharp_rgb: np.ndarray) -> None:
    blurred = (sharp_rgb * 0.5).astype(np.uint8)
    frames = (sharp_rgb, blurred, blurred, sharp_rgb, blurred)
    result = model.check(
        Media(frames=frames, timestamps_ms=(0, 40, 80, 120, 160), is_clip=True), [], CheckOptions()
    )
    scores = [model.score_image(frames[i])[0] for i in (0, 2, 4)]
    assert result.status == Status.OK and result.detail == "frames=0,2,4"
    assert result.score == pytest.approx(np.mean(scores))


@pytest.mark.parametrize("shape", [(480, 640), (7, 5)])
def test_grey_std_is_the_population_standard_deviation(shape: tuple[int, int]) -> None:
    grey = np.random.default_rng(3).uniform(0, 255, shape).astype(np.float32)
    assert grey_std(grey) == pytest.approx(float(np.std(grey.astype(np.float64))), rel=1e-9)
    assert grey_std(np.full(shape, 200.0, np.float32)) == pytest.approx(0.0, abs=1e-6)


def test_flat_image_is_low_quality(model: IqaModel) -> None:
    flat = np.full((120, 160, 3), 128, np.uint8)
    result = model.check(Media(frames=(flat,), timestamps_ms=(0,), is_clip=False), [], CheckOptions())
    assert result.status == Status.LOW_QUALITY and "flat" in result.detail


def test_tiny_model_separates_sharp_from_blurred(model: IqaModel, sharp_rgb: np.ndarray) -> None:
    import cv2

    sharp, _ = model.score_image(sharp_rgb)
    blurred, _ = model.score_image(cv2.GaussianBlur(sharp_rgb, (0, 0), 1.5))
    assert sharp > 0.5 > blurred


def test_warmup_runs(model: IqaModel) -> None:
    model.warmup()


def test_an_artifact_whose_parts_disagree_is_refused(tiny_artifact_path: Path) -> None:
    artifact = IqaArtifact.load(tiny_artifact_path)  # all 25 measures, with NIQE's model
    some = tuple(m for m in quality.METRICS if m != "NIQE")
    with pytest.raises(ValueError, match="NIQE model"):
        replace(artifact, feature_names=some)  # a NIQE model without the NIQE feature
    with pytest.raises(ValueError, match="25 LDA weights for 24 features"):
        replace(artifact, feature_names=some, niqe=None)
    with pytest.raises(ValueError, match="not some of"):
        replace(artifact, feature_names=("VIF", "MSE"))  # out of METRICS order
