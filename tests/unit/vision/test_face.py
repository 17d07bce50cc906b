"""Face detection on a real face (scikit-image's astronaut) and square-crop geometry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from liveness.errors import InvalidInput
from liveness.types import Box, Face, FaceObservation, Media, Status
from liveness.vision import face


def test_astronaut_has_one_face_with_68_landmarks(astronaut: np.ndarray) -> None:
    obs = face.observe(astronaut)
    assert obs.status is Status.OK and obs.count == 1
    assert obs.face is not None
    box = obs.face.box
    # Eileen Collins' face sits around x 170-275, y 70-180 of the 512x512 image.
    assert 150 < box.left < 200 and 250 < box.right < 290 and 60 < box.top < 100 and 160 < box.bottom < 200
    lm = obs.face.landmarks
    assert lm is not None and lm.shape == (68, 2)
    # Landmarks lie around the box; eyes above the mouth.
    assert (lm[:, 0] > box.left - 20).all() and (lm[:, 0] < box.right + 20).all()
    assert lm[face.LEFT_EYE, 1].mean() < lm[face.MOUTH, 1].mean()


def test_a_box_only_observation_finds_the_same_face_without_landmarks(astronaut: np.ndarray) -> None:
    full = face.observe(astronaut)
    boxes = face.observe(astronaut, with_landmarks=False)
    assert boxes.face is not None and full.face is not None
    assert (boxes.count, boxes.face.box) == (full.count, full.face.box) and boxes.face.landmarks is None
    turns, upright = face.observe_upright(astronaut, with_landmarks=False)
    assert turns == 0 and upright == boxes


def test_each_thread_scans_with_its_own_detector_and_finds_the_same_faces(astronaut: np.ndarray) -> None:
    # dlib's detector may not be shared between threads; the searches run side by side without a lock.
    models = face._dlib()
    here = models.detector()
    assert models.detector() is here
    expected = face.detect_boxes(astronaut)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(lambda: (models.detector(), face.detect_boxes(astronaut))) for _ in range(6)]
        results = [f.result() for f in futures]
    detectors = {id(d) for d, _ in results}
    assert here not in [d for d, _ in results] and 1 <= len(detectors) <= 2
    assert all(boxes == expected for _, boxes in results)


def test_no_face_is_a_result_not_an_exception() -> None:
    blank = np.full((240, 320, 3), 127, np.uint8)
    obs = face.observe(blank, frame_index=3)
    assert obs == FaceObservation(frame_index=3, count=0, face=None)
    assert obs.status is Status.NO_FACE


def test_two_faces_are_reported(astronaut: np.ndarray) -> None:
    pair = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)  # 1024 wide: detect at full size
    obs = face.observe(pair, settings=face.DetectorSettings(detect_max_side=1024))
    assert obs.count == 2 and obs.status is Status.MULTIPLE_FACES


@pytest.mark.parametrize("scale", [1.0, 1.5, 1.8])
def test_square_box_is_centred_and_scaled(scale: float) -> None:
    sq = face.square_box(Box(100, 50, 140, 110), scale)  # 40 wide, 60 high
    assert sq.width == pytest.approx(60 * scale) and sq.height == pytest.approx(60 * scale)
    assert sq.center == pytest.approx((120, 80))


def test_crop_maps_box_to_the_expected_pixels() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:60, 40:60] = 255  # a white 20x20 square in the middle
    out = face.crop(img, Box(40, 40, 60, 60), scale=2.0, size=40)  # 40x40 window, 1 px per px
    assert out.shape == (40, 40, 3)
    assert (out[10:30, 10:30] == 255).all() and (out[:9] == 0).all() and (out[:, 31:] == 0).all()


def test_crop_outside_the_frame_is_black() -> None:
    img = np.full((50, 50, 3), 200, np.uint8)
    out = face.crop(img, Box(0, 0, 20, 20), scale=2.0, size=40)  # window from -10 to 30
    assert (out[:9, :9] == 0).all() and (out[15:35, 15:35] == 200).all()


def test_crop_outside_the_frame_repeats_the_edge_with_edge_padding() -> None:
    img = np.zeros((50, 50, 3), np.uint8)
    img[:, :25] = 90  # left half 90, right half 0: the top-left corner pixel is 90
    img[0, :25] = 150  # top row of the left half 150
    out = face.crop(img, Box(0, 0, 20, 20), scale=2.0, size=40, pad="edge")  # window from -10 to 30
    assert (out[:9, :9] == 150).all()  # above and left of the frame: the top-left pixel repeated
    assert (out[12:30, :9] == 90).all()  # left of the frame: the left column repeated
    assert (out[:9, 12:30] == 150).all()  # above the frame: the top row repeated


def test_crop_refuses_an_unknown_padding() -> None:
    with pytest.raises(ValueError, match="pad"):
        face.crop(np.zeros((50, 50, 3), np.uint8), Box(0, 0, 20, 20), 2.0, 40, pad="mirror")


def test_multi_scale_crops(astronaut: np.ndarray) -> None:
    box = Box(175, 76, 266, 167)
    outs = face.crops(astronaut, box, (1.1, 1.3, 1.5), 64)
    assert [o.shape for o in outs] == [(64, 64, 3)] * 3
    # Wider context shrinks the face: the centre pixel stays, the corners change.
    np.testing.assert_allclose(outs[0][32, 32], outs[2][32, 32], atol=40)


def test_eye_aspect_ratio_open_vs_closed() -> None:
    open_eye = np.array([[0, 0], [1, -1], [2, -1], [3, 0], [2, 1], [1, 1]], np.float32)
    closed = open_eye * np.array([1, 0.1], np.float32)
    assert face.eye_aspect_ratio(open_eye) == pytest.approx(2 / 3)
    assert face.eye_aspect_ratio(closed) == pytest.approx(0.2 / 3)


def test_supplied_regions_are_validated() -> None:
    media = Media(frames=(np.zeros((100, 100, 3), np.uint8),), timestamps_ms=(0,), is_clip=False)
    good = FaceObservation(0, 1, Face(Box(10, 10, 50, 50)))
    face.validate_observations([good], media)
    with pytest.raises(InvalidInput, match="2 face regions for 1 frames"):
        face.validate_observations([good, good], media)
    with pytest.raises(InvalidInput, match="outside the 100x100 frame"):
        face.validate_observations([FaceObservation(0, 1, Face(Box(10, 10, 500, 50)))], media)
    with pytest.raises(InvalidInput, match=r"faces\[0\]\.box: unset"):
        face.validate_observations([FaceObservation(0, 1, None)], media)


def _tight(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut's face cut out tightly (its box touches every border), as many backends send it."""
    return np.ascontiguousarray(astronaut[90:165, 183:260])  # 77x75, the face box is about 91 px


def test_a_face_that_fills_the_image_is_found_with_padding(astronaut: np.ndarray) -> None:
    tight = _tight(astronaut)
    assert face.observe(tight, settings=face.DetectorSettings(pad=0.0)).status is Status.NO_FACE
    obs = face.observe(tight)
    assert obs.status is Status.OK and obs.face is not None
    box = obs.face.box
    # Mapped back into the crop: inside it and covering most of it.
    assert 0 <= box.left < box.right <= 77 and 0 <= box.top < box.bottom <= 75
    assert box.area > 0.6 * 77 * 75
    assert obs.face.landmarks is not None and obs.face.landmarks[face.NOSE, 0].mean() == pytest.approx(
        38, abs=10
    )


@pytest.mark.parametrize("k", [1, 3])
def test_a_sideways_frame_is_judged_upright(astronaut: np.ndarray, k: int) -> None:
    sideways = face.turn(astronaut, -k)  # a phone held sideways: the face lies on its side
    assert face.observe(sideways).status is Status.NO_FACE
    found, obs = face.observe_upright(sideways)
    assert found == k and obs.status is Status.OK and obs.face is not None
    upright = face.observe(astronaut).face
    assert upright is not None
    # turn(sideways, k) is the upright image again, so the box is the upright detection's.
    assert np.allclose(face.turn(sideways, found), astronaut)
    assert obs.face.box.center == pytest.approx(upright.box.center, abs=3)


@pytest.mark.parametrize("k", [0, 1])
def test_upright_face_is_the_turned_image_and_observe_uprights_box(astronaut: np.ndarray, k: int) -> None:
    sideways = face.turn(astronaut, -k)
    found = face.upright_face(sideways)
    assert found is not None
    image, box = found
    turns, obs = face.observe_upright(sideways)
    assert obs.face is not None and box == obs.face.box
    assert np.array_equal(image, face.turn(sideways, turns)) and np.array_equal(image, astronaut)
    assert face.upright_face(np.full((120, 160, 3), 90, np.uint8)) is None


def test_no_turn_is_claimed_without_a_face() -> None:
    k, obs = face.observe_upright(np.full((120, 160, 3), 90, np.uint8), frame_index=4)
    assert k == 0 and obs == FaceObservation(frame_index=4, count=0, face=None)


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    h = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    return w * h / (a.area + b.area - w * h)


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each HOG scan detect_boxes makes: "coarse", "window" or "whole"."""
    seen: list[str] = []
    scan = face._scored_boxes

    def spy(image, settings, margin=0, coarse=False, window=None):  # type: ignore[no-untyped-def]
        seen.append("coarse" if coarse else "window" if window is not None else "whole")
        return scan(image, settings, margin, coarse, window)

    monkeypatch.setattr(face, "_scored_boxes", spy)
    return seen


def test_coarse_scan_finds_the_face_the_whole_pyramid_finds(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = face.detect_boxes(astronaut, face.DetectorSettings(coarse_level=0))
    scans = _scans(monkeypatch)
    coarse = face.detect_boxes(astronaut)
    assert scans == ["coarse"]  # the face is 20 % of the side: the coarse scan's answer stands
    assert len(full) == len(coarse) == 1
    assert _iou(full[0], coarse[0]) > 0.95


def test_a_small_face_falls_back_to_the_whole_pyramid(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The astronaut at 480x480 on a 640x480 grey canvas: a face of about 95 px, 15 % of the longer side,
    # which the whole pyramid finds (from 12.5 %) and the coarse levels' answer does not cover (18 %).
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[:, 80:560] = np.asarray(cv2.resize(astronaut, (480, 480), interpolation=cv2.INTER_AREA), np.uint8)
    scans = _scans(monkeypatch)
    boxes = face.detect_boxes(canvas)
    assert scans[0] == "coarse" and ("window" in scans or "whole" in scans)
    assert len(boxes) == 1 and 260 < boxes[0].center[0] < 320


def test_coarse_level_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="invalid detector settings"):
        face.DetectorSettings(coarse_level=-1)


@pytest.mark.parametrize(("nose_shift", "sign"), [(0.0, 0), (0.3, 1), (-0.3, -1)])
def test_yaw_sign_follows_the_nose(astronaut: np.ndarray, nose_shift: float, sign: int) -> None:
    obs = face.observe(astronaut)
    assert obs.face is not None and obs.face.landmarks is not None
    frontal = obs.face.landmarks.copy()
    centre = (frontal[0, 0] + frontal[16, 0]) / 2
    frontal[30, 0] = centre + nose_shift * (frontal[16, 0] - frontal[0, 0]) / 2
    value = face.yaw(frontal)
    assert np.sign(round(value, 6)) == sign
    assert abs(value) == pytest.approx(abs(nose_shift), abs=1e-5)


def _turned(index: int, turn: float | None) -> FaceObservation:
    """One face with its nose tip `turn` of the half jaw width off centre (None: a box without landmarks)."""
    lm = None
    if turn is not None:
        lm = np.zeros((68, 2), np.float32)
        lm[0, 0], lm[16, 0], lm[30, 0] = 0.0, 100.0, 50.0 + 50.0 * turn
    return FaceObservation(index, 1, Face(Box(0.0, 0.0, 100.0, 100.0), lm))


def test_frontal_frames_are_the_least_turned_in_frame_order() -> None:
    turns = [0.5, 0.0, -0.8, 0.1, None, -0.1, 0.9]
    faces = [_turned(i, t) if t is not None else FaceObservation(i, 0, None) for i, t in enumerate(turns)]
    # Frame 4 has no face; of the rest, 1, 3 and 5 are the least turned (3 and 5 tie, both kept).
    assert face.single_face_frames(faces, 7, 3, frontal=True) == ([1, 3, 5], None)
    assert face.single_face_frames(faces, 7, 3) == ([0, 2, 6], None)  # evenly spaced without `frontal`
    assert face.single_face_frames(faces, 7, 2, frontal=True) == ([1, 3], None)  # the earlier on a tie
    # A frame without landmarks (a box-only region) leaves no way to rank them: evenly spaced.
    faces[0] = _turned(0, None)
    assert face.single_face_frames(faces, 7, 3, frontal=True) == ([0, 2, 6], None)
