"""TemporalModel.check with tiny ONNX stand-ins: statuses, caps, challenges, identity, settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from liveness.errors import InvalidInput
from liveness.types import Action, Box, CheckOptions, Face, FaceObservation, Media, Status
from temporal.blink import inject_blink
from temporal.model import CAPPED_SCORE, SUPPORTED_ACTIONS, TemporalModel, TemporalSettings

from .conftest import shifted_clip


def _same_person(image: np.ndarray, box: Box) -> np.ndarray:
    return np.zeros(128)


@pytest.fixture(scope="module")
def model(tiny_sequence_onnx: Path, tiny_expression_onnx: Path) -> TemporalModel:
    settings = TemporalSettings(model_path=tiny_sequence_onnx, expression_path=tiny_expression_onnx)
    m = TemporalModel(settings, encoder=_same_person)
    m.warmup()
    return m


def _with_blink(faces: list[FaceObservation], at: int) -> list[FaceObservation]:
    marks = [o.face.landmarks for o in faces if o.face is not None]
    blinked = inject_blink(marks, at)  # type: ignore[arg-type]
    return [
        dataclasses.replace(o, face=Face(o.face.box, lm))
        for o, lm in zip(faces, blinked, strict=True)
        if o.face is not None
    ]


def test_info_declares_a_clip_only_test(model: TemporalModel, astronaut: np.ndarray) -> None:
    info = model.info
    assert (info.name, info.accepts_image, info.accepts_clip, info.needs_face) == (
        "temporal",
        False,
        True,
        True,
    )
    assert (info.min_frames, info.max_frames) == (8, 32)
    assert set(info.supported_actions) == set(SUPPORTED_ACTIONS)
    assert not info.accepts(Media((astronaut,), (0,), is_clip=False))
    assert not info.accepts(Media((astronaut,) * 4, (0, 1, 2, 3), is_clip=True))
    assert info.accepts(Media((astronaut,) * 8, tuple(range(8)), is_clip=True))


def test_a_still_clip_gets_the_sequence_score(
    model: TemporalModel, astronaut: np.ndarray, astronaut_face: Face
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 12, step_px=0)
    result = model.check(media, faces, CheckOptions())
    assert result.status is Status.OK
    assert 0.2 < result.score < 0.8  # the stand-in's mean pixel value of the face crops
    assert "capped" not in result.detail and "blinks=0" in result.detail
    assert result.challenge == ()


def test_a_picture_moved_as_one_plane_is_capped(
    model: TemporalModel, astronaut: np.ndarray, astronaut_face: Face
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 12, step_px=4)
    result = model.check(media, faces, CheckOptions())
    assert result.status is Status.OK
    assert result.score <= CAPPED_SCORE
    assert "planar motion" in result.detail


def test_landmarks_are_fitted_when_the_gateway_sends_only_boxes(
    model: TemporalModel, astronaut: np.ndarray, astronaut_face: Face
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 8, step_px=0)
    boxes_only = [dataclasses.replace(o, face=Face(o.face.box)) for o in faces if o.face is not None]
    assert model.check(media, boxes_only, CheckOptions()).status is Status.OK


@pytest.mark.parametrize(
    ("count", "status"),
    [(0, Status.NO_FACE), (2, Status.MULTIPLE_FACES)],
)
def test_face_statuses(
    model: TemporalModel, astronaut: np.ndarray, astronaut_face: Face, count: int, status: Status
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 10, step_px=0)
    bad = [FaceObservation(o.frame_index, count, None if count == 0 else o.face) for o in faces]
    mixed = bad[:6] + faces[6:]  # 6 of 10 frames without a usable face
    result = model.check(media, mixed, CheckOptions())
    assert result.status is status
    assert result.score == 0.0


def test_one_observation_per_frame_is_required(
    model: TemporalModel, astronaut: np.ndarray, astronaut_face: Face
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 10, step_px=0)
    with pytest.raises(InvalidInput):
        model.check(media, faces[:-1], CheckOptions())


@pytest.mark.parametrize(
    ("challenge", "satisfied", "capped"),
    [
        ((Action.BLINK,), [True], False),
        ((Action.SMILE, Action.BLINK), [True, True], False),  # the stand-in sees a smile in every frame
        ((Action.BLINK, Action.SURPRISE), [True, False], True),  # the stand-in never sees surprise
        ((Action.BLINK, Action.BLINK), [True, False], True),  # only one blink in the clip
        ((Action.TURN_LEFT,), [False], True),  # a frontal face never turns
    ],
)
def test_challenge_results_are_reported_in_order(
    model: TemporalModel,
    astronaut: np.ndarray,
    astronaut_face: Face,
    challenge: tuple[Action, ...],
    satisfied: list[bool],
    capped: bool,
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 16, step_px=0)
    result = model.check(media, _with_blink(faces, at=6), CheckOptions(challenge=challenge))
    assert [r.action for r in result.challenge] == list(challenge)
    assert [r.satisfied for r in result.challenge] == satisfied
    assert (result.score <= CAPPED_SCORE) is capped
    assert ("challenge not followed" in result.detail) is capped
    blink = [r for r in result.challenge if r.action is Action.BLINK and r.satisfied]
    assert all(r.frame_index == 7 for r in blink)


def test_reference_without_the_person_caps_the_score(
    model: TemporalModel, astronaut: np.ndarray, astronaut_face: Face
) -> None:
    media, faces = shifted_clip(astronaut, astronaut_face, 8, step_px=0)
    same = model.check(media, faces, CheckOptions(reference=astronaut))
    assert "reference_match=true" in same.detail and same.score > CAPPED_SCORE
    no_face = np.zeros((200, 200, 3), np.uint8)
    other = model.check(media, faces, CheckOptions(reference=no_face))
    assert "reference_match=false" in other.detail and other.score <= CAPPED_SCORE


def test_settings_from_env(tiny_sequence_onnx: Path) -> None:
    settings = TemporalSettings.from_env(
        {
            "TEMPORAL_MODEL_PATH": str(tiny_sequence_onnx),
            "TEMPORAL_THREADS": "2",
            "TEMPORAL_IDENTITY_FRAMES": "0",
            "UNRELATED": "x",
        }
    )
    assert (
        settings.model_path == tiny_sequence_onnx and settings.threads == 2 and settings.identity_frames == 0
    )
    for env in (
        {"TEMPORAL_THREADS": "two"},
        {"TEMPORAL_THREADS": "0"},
        {"TEMPORAL_IDENTITY_FRAMES": "1"},
        {"TEMPORAL_MIN_FRAMES": "4"},
        {"TEMPORAL_EXPRESSION_THRESHOLD": "1.5"},
    ):
        with pytest.raises(ValueError):
            TemporalSettings.from_env(env)


@pytest.mark.parametrize("identity_frames, encoded", [(2, 1), (0, 0)])
def test_warmup_loads_the_face_encoder_only_when_identity_checks_are_on(
    tiny_sequence_onnx: Path, tiny_expression_onnx: Path, identity_frames: int, encoded: int
) -> None:
    calls: list[tuple[int, ...]] = []

    def counting(image: np.ndarray, box: Box) -> np.ndarray:
        calls.append(image.shape)
        return np.zeros(128)

    settings = TemporalSettings(
        model_path=tiny_sequence_onnx, expression_path=tiny_expression_onnx, identity_frames=identity_frames
    )
    TemporalModel(settings, encoder=counting).warmup()
    assert len(calls) == encoded
