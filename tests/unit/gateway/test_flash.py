"""The flash-colour check on synthetic clips: a re-lit face passes, replays that ignore the flash fail."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.transform

from gateway.flash import FlashSchedule, FlashStep, check_flash, chroma, correlation
from gateway.flash_synth import Lighting, live_clip, replay_clip
from liveness.types import Box, Status

RED, GREEN, BLUE, YELLOW, MAGENTA, CYAN = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
)
SHOWN = FlashSchedule(tuple(FlashStep(c, 300) for c in (RED, CYAN, BLUE, YELLOW, GREEN, MAGENTA)))
OTHER = FlashSchedule(tuple(FlashStep(c, 300) for c in (GREEN, MAGENTA, YELLOW, RED, BLUE, CYAN)))
FPS = 8.0
MIN_CORRELATION = 0.5


@pytest.fixture(scope="module")
def face(astronaut: np.ndarray) -> tuple[np.ndarray, Box]:
    """The astronaut at a quarter of the size (fast), with her face box found at full size, scaled."""
    small = (skimage.transform.rescale(astronaut, 0.25, channel_axis=2) * 255).astype(np.uint8)
    return small, Box(171.2, 73.6, 273.6, 174.4).scaled(0.25)


@pytest.mark.parametrize("gain", [0.1, 0.25])
def test_live_face_follows_the_flash(face: tuple[np.ndarray, Box], gain: float) -> None:
    image, box = face
    frames, times = live_clip(image, box, SHOWN, Lighting(gain=gain), FPS, np.random.default_rng(0))
    out = check_flash(frames, times, box, SHOWN, MIN_CORRELATION)
    assert out.status is Status.OK and out.satisfied and out.correlation > 0.8, out.detail


@pytest.mark.parametrize("recorded", [OTHER, None], ids=["other-sequence", "no-flash"])
def test_replay_that_ignores_the_flash_fails(
    face: tuple[np.ndarray, Box], recorded: FlashSchedule | None
) -> None:
    image, box = face
    frames, times = replay_clip(image, box, SHOWN, recorded, Lighting(), FPS, np.random.default_rng(1))
    out = check_flash(frames, times, box, SHOWN, MIN_CORRELATION)
    assert out.status is Status.OK and not out.satisfied and out.correlation < MIN_CORRELATION, out.detail


def test_timestamps_are_relative_to_the_first_frame(face: tuple[np.ndarray, Box]) -> None:
    image, box = face
    frames, times = live_clip(image, box, SHOWN, Lighting(), FPS, np.random.default_rng(2))
    shifted = [t + 1_700_000_000_000 for t in times]
    assert check_flash(frames, shifted, box, SHOWN, MIN_CORRELATION).satisfied


def test_statuses_when_the_flash_cannot_be_measured(face: tuple[np.ndarray, Box]) -> None:
    image, box = face
    frames, times = live_clip(image, box, SHOWN, Lighting(), FPS, np.random.default_rng(3))
    assert check_flash(frames, times, None, SHOWN, 0.5).status is Status.NO_FACE
    assert check_flash(frames[:3], times[:3], box, SHOWN, 0.5).status is Status.LOW_QUALITY
    # Six frames all inside the first 300 ms colour: nothing changes, so nothing can correlate.
    within_first = [0, 50, 100, 150, 200, 250]
    assert check_flash(frames[:6], within_first, box, SHOWN, 0.5).status is Status.LOW_QUALITY
    out = check_flash(frames, times, box, FlashSchedule(()), 0.5)
    assert out.status is Status.NOT_APPLICABLE and out.satisfied
    tiny = Box(0, 0, 3, 3)
    assert check_flash(frames, times, tiny, SHOWN, 0.5).status is Status.NO_FACE


def test_chroma_and_correlation() -> None:
    assert chroma(np.array([[10.0, 20.0, 70.0], [0.0, 0.0, 0.0]])) == pytest.approx(
        np.array([[0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]])
    )
    a = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.5, 0.2, 0.3]])
    assert correlation(a, a) == pytest.approx(1.0)
    assert correlation(a, -a) == pytest.approx(-1.0)
    assert correlation(a, np.ones_like(a)) == 0.0


def test_schedule_maps_time_to_colour() -> None:
    schedule = FlashSchedule((FlashStep((255, 0, 0), 100), FlashStep((0, 0, 255), 50)))
    assert schedule.duration_ms == 150
    assert [schedule.color_at(t) for t in (0, 99, 100, 149, 150)] == [
        (255, 0, 0),
        (255, 0, 0),
        (0, 0, 255),
        (0, 0, 255),
        None,
    ]
