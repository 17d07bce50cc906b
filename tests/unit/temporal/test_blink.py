"""Blink detection on synthetic EAR tracks and on real landmarks with synthetic blinks put in."""

from __future__ import annotations

import numpy as np
import pytest

from liveness.types import Face
from temporal.blink import BlinkSettings, close_eyes, detect_blinks, ear_track, inject_blink

OPEN = 0.30


def _ts(n: int, fps: float = 10.0) -> list[int]:
    return [round(i * 1000 / fps) for i in range(n)]


@pytest.mark.parametrize(
    ("ear", "expected_deepest"),
    [
        ([OPEN] * 16, []),  # a photo: flat
        ([OPEN] * 5 + [0.12] + [OPEN] * 10, [5]),  # one frame shut at 10 fps
        ([OPEN] * 4 + [0.2, 0.1, 0.18] + [OPEN] * 9, [5]),  # closing, shut, opening
        ([OPEN] * 3 + [0.1] + [OPEN] * 5 + [0.12, 0.15] + [OPEN] * 5, [3, 9]),  # two blinks
        ([0.1] * 3 + [OPEN] * 13, []),  # starts closed: no open frame before it
        ([OPEN] * 12 + [0.1] * 4, []),  # ends closed: never reopens
        ([OPEN] * 3 + [0.1] * 8 + [OPEN] * 5, []),  # closed 700 ms: eyes shut, not a blink
        ([OPEN] * 5 + [0.26] + [OPEN] * 10, []),  # a 13 % dip is jitter, not a blink
    ],
)
def test_detect_blinks_on_ear_tracks(ear: list[float], expected_deepest: list[int]) -> None:
    blinks = detect_blinks(np.array(ear), _ts(len(ear)))
    assert [b.deepest for b in blinks] == expected_deepest
    assert all(0.0 < b.depth <= 1.0 for b in blinks)


def test_frames_without_a_face_neither_open_nor_close() -> None:
    ear = np.array([OPEN] * 4 + [np.nan, 0.1, np.nan] + [OPEN] * 5)
    assert [b.deepest for b in detect_blinks(ear, _ts(len(ear)))] == [5]


def test_timestamps_decide_the_duration() -> None:
    ear = np.array([OPEN] * 3 + [0.1, 0.1] + [OPEN] * 3)
    slow = [0, 100, 200, 300, 900, 1000, 1100, 1200]  # the two shut frames are 600 ms apart
    assert detect_blinks(ear, _ts(len(ear))) != []
    assert detect_blinks(ear, slow) == []


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        BlinkSettings(close_ratio=0.9, open_ratio=0.8)
    with pytest.raises(ValueError):
        detect_blinks(np.array([OPEN, OPEN]), [0])


def test_close_eyes_lowers_ear_monotonically(astronaut_face: Face) -> None:
    lm = astronaut_face.landmarks
    assert lm is not None
    ears = ear_track([close_eyes(lm, c) for c in (0.0, 0.3, 0.6, 1.0)])
    assert ears[0] > 0.15
    assert np.all(np.diff(ears) < 0)
    assert ears[-1] < 0.02


def test_injected_blink_is_found_in_a_jittered_real_track(astronaut_face: Face) -> None:
    lm = astronaut_face.landmarks
    assert lm is not None
    rng = np.random.default_rng(3)
    track = [lm + rng.normal(0, 0.4, lm.shape).astype(np.float32) for _ in range(20)]
    assert detect_blinks(ear_track(track), _ts(20)) == []
    blinks = detect_blinks(ear_track(inject_blink(track, at=8)), _ts(20))
    assert [b.deepest for b in blinks] == [9]
    assert ear_track([lm])[0] == pytest.approx(ear_track(inject_blink([lm], at=5))[0])
