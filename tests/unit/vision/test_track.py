"""Keyframe detection + landmark tracking (vision.track) on synthetic moving faces and the sample clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from liveness.data.video import iter_frames
from liveness.types import Status
from liveness.vision import face, track

SAMPLE_CLIP = Path(__file__).resolve().parents[3] / "samples" / "astronaut_print_moved.mp4"


def _moving(astronaut: np.ndarray, shifts: list[tuple[float, float]], scales: list[float] | None = None):
    """The astronaut on a 640x480 grey canvas, moved by `shifts` (and scaled about its face by `scales`)."""
    canvas = np.full((480, 640, 3), 190, np.uint8)
    canvas[:, 80:560] = cv2.resize(astronaut, (480, 480), interpolation=cv2.INTER_AREA)
    frames = []
    for i, (dx, dy) in enumerate(shifts):
        s = 1.0 if scales is None else scales[i]
        m = np.array([[s, 0.0, (1 - s) * 290 + dx], [0.0, s, (1 - s) * 120 + dy]])
        frames.append(
            np.ascontiguousarray(cv2.warpAffine(canvas, m, (640, 480), borderValue=(190, 190, 190)), np.uint8)
        )
    return frames


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the full detector (face.observe) from here on."""
    calls: list[int] = []
    real = face.observe

    def counted(image, frame_index=0, settings=face.DEFAULT_DETECTOR):  # type: ignore[no-untyped-def]
        calls.append(frame_index)
        return real(image, frame_index, settings)

    monkeypatch.setattr(face, "observe", counted)
    return calls


def test_a_moving_face_is_detected_once_and_followed(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    shifts = [(3.0 * i, 1.5 * i) for i in range(-8, 8)]  # 3 px right, 1.5 px down per frame
    frames = _moving(astronaut, shifts)
    calls = _counting(monkeypatch)
    observations = track.track(frames)
    assert calls == [8]  # the middle frame only
    assert [o.frame_index for o in observations] == list(range(16))
    assert all(o.status is Status.OK for o in observations)
    key = observations[8].face
    assert key is not None
    for obs, (dx, dy) in zip(observations, shifts, strict=True):
        assert obs.face is not None and obs.face.landmarks is not None
        cx, cy = obs.face.box.center
        # The box follows the known motion to within 2 px, and keeps the detection's size.
        assert cx == pytest.approx(key.box.center[0] + dx - shifts[8][0], abs=2.0)
        assert cy == pytest.approx(key.box.center[1] + dy - shifts[8][1], abs=2.0)
        assert obs.face.box.width == pytest.approx(key.box.width, rel=0.03)
        # The landmarks are where detection on that frame would put them.
        direct = face.landmarks(frames[obs.frame_index], face.detect_boxes(frames[obs.frame_index])[0])
        assert np.abs(obs.face.landmarks - direct).mean() < 0.02 * key.box.width


def test_a_face_that_grows_keeps_its_box_in_proportion(astronaut: np.ndarray) -> None:
    scales = [1.0 + 0.02 * i for i in range(12)]  # walking towards the camera: +2 % a frame
    frames = _moving(astronaut, [(0.0, 0.0)] * 12, scales)
    observations = track.track(frames, keyframe=0)
    first, last = observations[0].face, observations[-1].face
    assert first is not None and last is not None
    assert last.box.width / first.box.width == pytest.approx(scales[-1], rel=0.04)


def test_the_track_is_found_again_after_a_cut(astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # Frames 0-5 with the face at one place, 6-11 at another 150 px away: LK cannot follow such a jump.
    frames = _moving(astronaut, [(-75.0, 0.0)] * 6 + [(75.0, 0.0)] * 6)
    calls = _counting(monkeypatch)
    observations = track.track(frames, keyframe=2)
    assert calls[0] == 2 and 6 in calls and len(calls) <= 3
    assert all(o.status is Status.OK for o in observations)
    assert observations[11].face is not None and observations[11].face.box.center[0] > 300


def test_a_face_found_again_costs_nothing_from_the_allowance(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sparse clip: the face jumps 150 px between every two frames, so every frame loses the track and
    # is detected afresh. Those detections find the face, so the allowance of one failed try is never spent.
    frames = _moving(astronaut, [(-75.0, 0.0), (75.0, 0.0)] * 4)
    calls = _counting(monkeypatch)
    observations = track.track(frames, keyframe=0, settings=track.TrackSettings(max_detections=1))
    assert all(o.status is Status.OK for o in observations)
    assert sorted(calls) == list(range(8))
    for obs, (dx, _) in zip(observations, [(-75.0, 0.0), (75.0, 0.0)] * 4, strict=True):
        assert obs.face is not None and (obs.face.box.center[0] > 300) == (dx > 0)


def test_frames_without_a_face_cost_a_bounded_number_of_detections(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = _moving(astronaut, [(0.0, 0.0)] * 4) + [np.full((480, 640, 3), 190, np.uint8)] * 12
    calls = _counting(monkeypatch)
    settings = track.TrackSettings(max_detections=2)
    observations = track.track(frames, keyframe=1, settings=settings)
    assert [o.status for o in observations] == [Status.OK] * 4 + [Status.NO_FACE] * 12
    assert len(calls) == 1 + 2  # the keyframe, then two tries after the face left


def test_only_the_asked_frames_are_observed_and_stop_ends_early(astronaut: np.ndarray) -> None:
    frames = _moving(astronaut, [(2.0 * i, 0.0) for i in range(10)])
    observations = track.track(frames, indices=[1, 3, 5, 7, 9])
    assert [o.frame_index for o in observations] == [1, 3, 5, 7, 9]
    assert all(o.status is Status.OK for o in observations)
    tracker = track.Tracker(frames)
    start = tracker.detect(4)
    after, before = track.order_from(4, range(10))
    assert after == [5, 6, 7, 8, 9] and before == [3, 2, 1, 0]
    seen = []
    for obs in tracker.follow(start, after, stop=lambda: len(seen) >= 2):
        seen.append(obs.frame_index)
    assert seen == [5, 6]


def test_the_sample_clip_is_tracked_like_it_is_detected() -> None:
    frames = [f for _, f, _ in iter_frames(SAMPLE_CLIP)]
    tracked = track.track(frames)
    detected = face.observe_media(_media(frames))
    assert len(tracked) == len(detected) == 24
    for t, d in zip(tracked, detected, strict=True):
        assert t.status is d.status is Status.OK
        assert t.face is not None and d.face is not None
        assert t.face.landmarks is not None and d.face.landmarks is not None
        side = d.face.box.width
        assert np.abs(t.face.landmarks - d.face.landmarks).mean() < 0.02 * side
        assert np.hypot(*np.subtract(t.face.box.center, d.face.box.center)) < 0.15 * side


def _media(frames):  # type: ignore[no-untyped-def]
    from liveness.types import Media

    return Media(tuple(frames), tuple(range(0, 83 * len(frames), 83)), is_clip=True)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="track settings"):
        track.TrackSettings(min_good=0.0)
    with pytest.raises(ValueError, match="keyframe"):
        track.track([np.zeros((10, 10, 3), np.uint8)], keyframe=3)
    assert track.track([]) == []


def test_a_large_face_is_tracked_downscaled_and_still_followed(astronaut: np.ndarray) -> None:
    shifts = [(4.0 * i, -2.0 * i) for i in range(8)]
    frames = _moving(astronaut, shifts, [1.7] * 8)  # the face about 150 px wide
    tracker = track.Tracker(frames)
    start = tracker.detect(0)
    observations = list(tracker.follow(start, range(1, 8)))
    assert start.face is not None and tracker.scale == pytest.approx(96.0 / start.face.box.width)
    assert tracker.grey(1).shape[1] == round(640 * tracker.scale)
    for obs, (dx, dy) in zip(observations, shifts[1:], strict=True):
        assert obs.status is Status.OK and obs.face is not None
        cx, cy = obs.face.box.center
        assert cx == pytest.approx(start.face.box.center[0] + dx, abs=2.5)
        assert cy == pytest.approx(start.face.box.center[1] + dy, abs=2.5)


@pytest.mark.parametrize("scale", [1.0, 1.7])
def test_without_refitting_the_tracked_points_are_the_landmarks(astronaut: np.ndarray, scale: float) -> None:
    shifts = [(3.0 * i, 1.0 * i) for i in range(6)]
    frames = _moving(astronaut, shifts, [scale] * 6)
    observations = track.track(frames, keyframe=0, settings=track.TrackSettings(refine=False))
    key = observations[0].face
    assert key is not None and key.landmarks is not None
    for obs, (dx, dy) in zip(observations[1:], shifts[1:], strict=True):
        assert obs.face is not None and obs.face.landmarks is not None
        moved = key.landmarks + np.float32([dx, dy])
        assert np.abs(obs.face.landmarks - moved).mean() < 0.5  # pixels: LK follows a rigid shift closely
