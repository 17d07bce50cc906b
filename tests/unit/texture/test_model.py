"""TextureModel and its artifact: statuses, scoring the face box, clip pooling over frontal frames, the
committed artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveness.types import Box, CheckOptions, Face, FaceObservation, Media, Status
from texture.features import N_FEATURES, face_crop, features
from texture.model import TextureArtifact, TextureModel, TextureSettings

BOX = Box(40.0, 30.0, 120.0, 110.0)


def _artifact(seed: int = 0) -> TextureArtifact:
    rng = np.random.default_rng(seed)
    return TextureArtifact(
        version="test",
        mean=rng.normal(size=N_FEATURES) * 0.1,
        scale=rng.uniform(0.5, 2.0, N_FEATURES),
        coef=rng.normal(size=N_FEATURES),
        intercept=0.3,
        platt_slope=0.8,
        platt_offset=-0.1,
    )


@pytest.fixture()
def model(tmp_path: Path) -> TextureModel:
    path = tmp_path / "texture.npz"
    _artifact().save(path)
    return TextureModel(TextureSettings(model_path=path, max_frames=2))


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (160, 200, 3), dtype=np.uint8)


def _obs(index: int, count: int = 1) -> FaceObservation:
    return FaceObservation(frame_index=index, count=count, face=Face(BOX) if count else None)


def test_artifact_round_trips_and_scores_are_the_calibrated_logistic(tmp_path: Path) -> None:
    art = _artifact()
    art.save(tmp_path / "a.npz")
    back = TextureArtifact.load(tmp_path / "a.npz")
    x = features(face_crop(_frame(3), BOX))
    z = ((x - art.mean) / art.scale) @ art.coef + art.intercept
    expected = 1.0 / (1.0 + np.exp(-(0.8 * z - 0.1)))
    np.testing.assert_allclose(back.proba(x), [expected], rtol=1e-12)


def test_artifact_of_another_feature_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="arrays must all be"):
        TextureArtifact(
            version="x",
            mean=np.zeros(3),
            scale=np.ones(3),
            coef=np.zeros(3),
            intercept=0.0,
            platt_slope=1.0,
            platt_offset=0.0,
        )
    np.savez(tmp_path / "old.npz", version="x", crop_size=32)
    with pytest.raises(ValueError, match="crop size"):
        TextureArtifact.load(tmp_path / "old.npz")


def test_image_is_scored_on_its_face_box(model: TextureModel) -> None:
    frame = _frame(1)
    result = model.check(Media((frame,), (0,), False), [_obs(0)], CheckOptions())
    assert result.status is Status.OK
    expected = model.artifact.proba(features(face_crop(frame, BOX)))[0]
    assert result.score == pytest.approx(expected, rel=1e-9)


def test_statuses_without_one_face(model: TextureModel) -> None:
    media = Media((_frame(1),), (0,), False)
    assert model.check(media, [_obs(0, count=0)], CheckOptions()).status is Status.NO_FACE
    assert model.check(media, [_obs(0, count=2)], CheckOptions()).status is Status.MULTIPLE_FACES


def test_clip_is_the_mean_of_at_most_max_frames_faces(model: TextureModel) -> None:
    frames = tuple(_frame(i) for i in range(5))
    media = Media(frames, tuple(range(0, 500, 100)), True)
    obs = [_obs(i) for i in range(5)]
    result = model.check(media, obs, CheckOptions())
    scores = [model.artifact.proba(features(face_crop(frames[i], BOX)))[0] for i in (0, 4)]
    assert result.score == pytest.approx(float(np.mean(scores)), rel=1e-9)
    assert "2 of 5 frames" in result.detail


def _landmarks(turn: float) -> np.ndarray:
    """68 points inside BOX whose nose tip (point 30) sits `turn` of the half jaw width off the centre."""
    lm = np.zeros((68, 2), np.float32)
    lm[:, 0], lm[:, 1] = 80.0, 70.0
    lm[0, 0], lm[16, 0] = 45.0, 115.0
    lm[30, 0] = 80.0 + turn * 35.0
    return lm


def test_clip_is_scored_on_its_most_frontal_faces(model: TextureModel) -> None:
    frames = tuple(_frame(i) for i in range(5))
    media = Media(frames, tuple(range(0, 500, 100)), True)
    turns = (0.6, 0.05, -0.7, -0.02, 0.3)  # frames 1 and 3 face the camera
    obs = [FaceObservation(i, 1, Face(BOX, _landmarks(t))) for i, t in enumerate(turns)]
    result = model.check(media, obs, CheckOptions())
    scores = [model.artifact.proba(features(face_crop(frames[i], BOX)))[0] for i in (1, 3)]
    assert result.score == pytest.approx(float(np.mean(scores)), rel=1e-9)
    assert model.info.max_frames == 16 and model.info.face_box_only and model.info.clip_landmarks


def test_settings_from_env() -> None:
    s = TextureSettings.from_env({"TEXTURE_MODEL_PATH": "m.npz", "TEXTURE_MAX_FRAMES": "3"})
    assert (s.model_path.name, s.max_frames, s.candidate_frames) == ("m.npz", 3, 16)
    assert TextureSettings.from_env({"TEXTURE_CANDIDATE_FRAMES": "24"}).candidate_frames == 24
    with pytest.raises(ValueError):
        TextureSettings.from_env({"TEXTURE_MAX_FRAMES": "0"})
    with pytest.raises(ValueError, match="invalid texture settings"):
        TextureSettings(max_frames=8, candidate_frames=4)  # fewer to choose from than it scores


def test_committed_artifact_loads_and_answers() -> None:
    model = TextureModel(TextureSettings())
    model.warmup()
    assert model.info.name == "texture" and model.info.needs_face and model.info.recommended_threshold == 0.5
    result = model.check(Media((_frame(2),), (0,), False), [_obs(0)], CheckOptions())
    assert result.status is Status.OK and 0.0 <= result.score <= 1.0
