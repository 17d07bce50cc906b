"""Cnn2dModel: settings, scoring the crops around the given box, statuses, clip pooling, the real artifact."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from cnn2d.augment import AugmentSettings
from cnn2d.model import CROP_SIZE, SCALES, Cnn2dModel, Cnn2dSettings, preprocess
from liveness.types import Box, CheckOptions, Face, FaceObservation, Media, Status
from liveness.vision import face as facelib

LEFT = Box(55.0, 80.0, 95.0, 120.0)  # inside the bright half
RIGHT = Box(205.0, 80.0, 245.0, 120.0)  # inside the dark half


@pytest.fixture(scope="module")
def half_lit() -> np.ndarray:
    """300x200 frame: left half bright (230), right half dark (20)."""
    image = np.full((200, 300, 3), 20, np.uint8)
    image[:, :150] = 230
    return image


def _obs(box: Box | None, count: int = 1, index: int = 0) -> FaceObservation:
    return FaceObservation(frame_index=index, count=count, face=Face(box) if box else None)


def _image(frame: np.ndarray) -> Media:
    return Media(frames=(frame,), timestamps_ms=(0,), is_clip=False)


def test_settings_from_env() -> None:
    s = Cnn2dSettings.from_env(
        {
            "CNN2D_MODEL_PATH": "m.onnx",
            "CNN2D_THREADS": "2",
            "CNN2D_MAX_FRAMES": "3",
            "CNN2D_THRESHOLD": "0.7",
        }
    )
    assert (s.model_path.name, s.threads, s.max_frames, s.threshold) == ("m.onnx", 2, 3, 0.7)
    assert Cnn2dSettings.from_env({}) == Cnn2dSettings()


@pytest.mark.parametrize(
    "env",
    [
        {"CNN2D_THREADS": "0"},
        {"CNN2D_THREADS": "two"},
        {"CNN2D_MAX_FRAMES": "-1"},
        {"CNN2D_THRESHOLD": "1.5"},
    ],
)
def test_bad_settings_fail_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="CNN2D_"):
        Cnn2dSettings.from_env(env)


def test_missing_artifact_fails_at_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError):
        Cnn2dModel(Cnn2dSettings(model_path=tmp_path / "absent.onnx"))


def test_preprocess_is_the_shared_multi_scale_crop(half_lit: np.ndarray) -> None:
    x = preprocess(half_lit, LEFT)
    assert x.shape == (len(SCALES), CROP_SIZE, CROP_SIZE, 3) and x.dtype == np.float32
    expected = np.stack(facelib.crops(half_lit, LEFT, SCALES, CROP_SIZE)).astype(np.float32)
    np.testing.assert_array_equal(x, expected)


def test_info(brightness_model: Cnn2dModel) -> None:
    info = brightness_model.info
    assert info.name == "cnn2d" and info.accepts_image and info.accepts_clip and info.needs_face
    assert info.max_frames == 4 and info.version.startswith("test-1+")


def test_score_follows_the_box(brightness_model: Cnn2dModel, half_lit: np.ndarray) -> None:
    live = brightness_model.check(_image(half_lit), [_obs(LEFT)], CheckOptions())
    spoof = brightness_model.check(_image(half_lit), [_obs(RIGHT)], CheckOptions())
    assert live.status is spoof.status is Status.OK
    assert live.score > 0.99 and spoof.score < 0.01


def _with_pad(brightness_onnx: Path, tmp_path: Path, pad: str) -> Path:
    import onnx

    model = onnx.load(str(brightness_onnx))
    entry = model.metadata_props.add()
    entry.key, entry.value = "pad", pad
    path = tmp_path / f"pad-{pad}.onnx"
    onnx.save(model, str(path))
    return path


def test_crop_padding_comes_from_the_model_metadata(brightness_onnx: Path, tmp_path: Path) -> None:
    """A face at a bright frame's corner: black padding darkens its crops, edge padding keeps them bright."""
    bright = np.full((200, 300, 3), 200, np.uint8)
    corner = [_obs(Box(-20.0, -20.0, 40.0, 40.0))]  # about 60 % of every crop lies outside the frame
    black = Cnn2dModel(Cnn2dSettings(model_path=brightness_onnx))  # no "pad" key: trained with black
    edge = Cnn2dModel(Cnn2dSettings(model_path=_with_pad(brightness_onnx, tmp_path, "edge")))
    assert black.check(_image(bright), corner, CheckOptions()).score < 0.01
    assert edge.check(_image(bright), corner, CheckOptions()).score > 0.99
    with pytest.raises(ValueError, match="padding"):
        Cnn2dModel(Cnn2dSettings(model_path=_with_pad(brightness_onnx, tmp_path, "mirror")))


@pytest.mark.parametrize(
    ("obs", "status"),
    [(_obs(None, count=0), Status.NO_FACE), (_obs(LEFT, count=2), Status.MULTIPLE_FACES)],
)
def test_statuses_come_from_the_observation(
    brightness_model: Cnn2dModel, half_lit: np.ndarray, obs: FaceObservation, status: Status
) -> None:
    result = brightness_model.check(_image(half_lit), [obs], CheckOptions())
    assert result.status is status


def test_clip_pools_frames_with_a_face(brightness_model: Cnn2dModel, half_lit: np.ndarray) -> None:
    clip = Media(frames=(half_lit,) * 3, timestamps_ms=(0, 40, 80), is_clip=True)
    faces = [_obs(LEFT, index=0), _obs(None, count=0, index=1), _obs(RIGHT, index=2)]
    result = brightness_model.check(clip, faces, CheckOptions())
    assert result.status is Status.OK and "2 of 3 frames" in result.detail
    assert result.score == pytest.approx(0.5, abs=0.01)  # one bright (~1) and one dark (~0) face averaged


def test_any_frame_with_two_faces_makes_the_clip_multiple_faces(
    brightness_model: Cnn2dModel, half_lit: np.ndarray
) -> None:
    clip = Media(frames=(half_lit,) * 2, timestamps_ms=(0, 40), is_clip=True)
    result = brightness_model.check(clip, [_obs(LEFT), _obs(LEFT, count=2, index=1)], CheckOptions())
    assert result.status is Status.MULTIPLE_FACES


def test_committed_artifact_loads_fast_and_scores_a_detected_face(astronaut: np.ndarray) -> None:
    settings = Cnn2dSettings()
    if not settings.model_path.is_file():
        pytest.skip("services/cnn2d/models/cnn2d.onnx not trained yet")
    start = time.perf_counter()
    model = Cnn2dModel(settings)
    model.warmup()
    load_s = time.perf_counter() - start
    assert load_s < 3.0
    result = model.check(_image(astronaut), facelib.observe_media(_image(astronaut)), CheckOptions())
    assert result.status is Status.OK and 0.0 <= result.score <= 1.0


def test_committed_artifact_scores_a_face_and_its_mirror_image_alike(astronaut: np.ndarray) -> None:
    """The served graph averages every network over the crops and their mirror image (cnn2d.net.average)."""
    settings = Cnn2dSettings()
    if not settings.model_path.is_file():
        pytest.skip("services/cnn2d/models/cnn2d.onnx not trained yet")
    model = Cnn2dModel(settings)
    box = facelib.observe(astronaut).face.box  # type: ignore[union-attr]
    crops = preprocess(astronaut, box)[None]
    mirrored = np.ascontiguousarray(crops[:, :, :, ::-1])
    assert "mirror image" in model.info.model_card
    np.testing.assert_allclose(model.score_faces(mirrored), model.score_faces(crops), atol=1e-5)


def test_committed_artifact_was_trained_with_the_recipes_augmentation() -> None:
    """`liveness train cnn2d` with its defaults reproduces the served model: its metrics.json records the
    augmentation it was trained with, which must be AugmentSettings' defaults, and the same version."""
    settings = Cnn2dSettings()
    metrics_path = settings.model_path.with_name("metrics.json")
    if not (settings.model_path.is_file() and metrics_path.is_file()):
        pytest.skip("services/cnn2d/models/ not trained yet")
    report = json.loads(metrics_path.read_text())
    assert report["augment"] == json.loads(json.dumps(asdict(AugmentSettings())))
    assert (
        Cnn2dModel(settings).info.version.split("+")[0]
        == report["version"]
        == report["onnx"]["metadata"]["version"]
    )
