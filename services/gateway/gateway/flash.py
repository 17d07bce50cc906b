"""Flash-colour check: does the light reflected by the face follow the colours the client's screen showed?

Physics: skin is lit by the room and by the phone's screen, so the face's colour is roughly
albedo x (ambient + screen colour x gain). When the screen turns red the face's chromaticity moves toward red,
and so on. A replayed video (a screen or a print held up to the camera) was recorded under other light and
does not follow a sequence the server drew seconds ago; what the replay surface itself reflects is weak next
to its own emission.

The screen is close to a live face and far from what is behind it, so the face takes up more of the
flash than its surroundings (inverse-square fall-off). A replay surface is flat: whatever glare of the
flash it reflects shifts the replayed face and its replayed surroundings alike.

What is measured: for every frame inside the sequence, the mean RGB of the central skin area of the face box
and of a ring around the face are turned into chromaticity (r, g, b) / (r + g + b); the face's chroma minus
the ring's is the face's own response to the light. The colour on screen at that frame's time is turned into
chromaticity too. Both series are centred over time (per channel), and the check reports the Pearson
correlation of the two centred series over all frames and channels. A live face under a visible flash gives
a clearly positive correlation; a replay recorded under other light, with or without glare of the real flash,
gives one near zero or negative. Pure numpy: no gRPC, no model.

Limits: camera auto white balance and auto exposure damp the signal (clients should lock them while
recording); strong daylight drowns a phone screen's light; a live user right in front of a near wall lights
the wall too; the synthetic validation (benchmarks/bench_flash.py) uses a linear re-lighting model, not
real skin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from liveness.types import Box, FaceObservation, RGBImage, Status

RGB = tuple[int, int, int]

MIN_FRAMES = 4  # fewer frames inside the sequence cannot show a correlation
MIN_COLOURS = 2  # the frames must span at least two shown colours
SAMPLES_PER_SIDE = 64  # means are taken over a pixel grid about this fine across the face: cheap on full HD


@dataclass(frozen=True, slots=True)
class FlashStep:
    """Show `color` (8-bit sRGB) full-screen for `duration_ms`."""

    color: RGB
    duration_ms: int


@dataclass(frozen=True, slots=True)
class FlashSchedule:
    """The colour shown at each moment of a clip that starts with the first step."""

    steps: Sequence[FlashStep] = field(default_factory=tuple)

    @property
    def duration_ms(self) -> int:
        return sum(s.duration_ms for s in self.steps)

    def color_at(self, t_ms: float) -> RGB | None:
        """The colour shown `t_ms` after the start, or None past the end."""
        elapsed = 0
        for step in self.steps:
            elapsed += step.duration_ms
            if t_ms < elapsed:
                return step.color
        return None


def flash_box(observations: Sequence[FaceObservation], chosen: int) -> Box | None:
    """The box to measure the flash on: the face of the frame nearest `chosen` that shows exactly one."""
    for obs in sorted(observations, key=lambda o: abs(o.frame_index - chosen)):
        if obs.status is Status.OK and obs.face is not None:
            return obs.face.box
    return None


def _stride(box: Box) -> int:
    return max(1, int(box.width // SAMPLES_PER_SIDE))


@dataclass(frozen=True, slots=True)
class FlashCheck:
    """The flash check's answer: `correlation` is meaningful only when `status` is OK."""

    status: Status
    correlation: float
    satisfied: bool
    detail: str


def skin_region(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the face box's centre: cheeks, nose and lower forehead, no hair or
    background. Clipped to the frame."""
    left = int(round(box.left + 0.25 * box.width))
    right = int(round(box.right - 0.25 * box.width))
    top = int(round(box.top + 0.3 * box.height))
    bottom = int(round(box.bottom - 0.15 * box.height))
    return max(top, 0), min(bottom, height), max(left, 0), min(right, width)


def _grown(box: Box, factor: float, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of `box` grown `factor` times about its centre, clipped to the frame."""
    cx, cy = box.center
    half_w, half_h = factor * box.width / 2.0, factor * box.height / 2.0
    return (
        max(int(round(cy - half_h)), 0),
        min(int(round(cy + half_h)), height),
        max(int(round(cx - half_w)), 0),
        min(int(round(cx + half_w)), width),
    )


def surround_mean(frame: RGBImage, box: Box) -> np.ndarray | None:
    """Mean RGB of the ring around the face (the box grown to 2x minus the box grown to 1.2x), from two
    rectangle sums so a full-HD frame costs little; None when the ring is (almost) empty."""
    h, w = frame.shape[:2]
    step = _stride(box)
    totals, counts = [], []
    for factor in (2.0, 1.2):
        top, bottom, left, right = _grown(box, factor, h, w)
        # Both rectangles start on the same grid (multiples of `step` from the frame's corner), so the
        # inner one's samples are a subset of the outer one's.
        top, left = -(-top // step) * step, -(-left // step) * step
        patch = frame[top:bottom:step, left:right:step].reshape(-1, 3)
        totals.append(patch.sum(axis=0, dtype=np.float64))
        counts.append(patch.shape[0])
    count = counts[0] - counts[1]
    if count < 16:
        return None
    return np.asarray((totals[0] - totals[1]) / count)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """Chromaticity of RGB rows, shape (N, 3) -> (N, 3), each row summing to 1 (black maps to grey)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    total = rgb.sum(axis=-1, keepdims=True)
    grey = np.full_like(rgb, 1.0 / 3.0)
    return np.where(total > 1e-9, rgb / np.maximum(total, 1e-9), grey)


def correlation(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson correlation of two (frames, 3) series after centring each channel over time; 0 when either
    series does not vary."""
    o = observed - observed.mean(axis=0, keepdims=True)
    e = expected - expected.mean(axis=0, keepdims=True)
    denom = float(np.sqrt((o * o).sum() * (e * e).sum()))
    if denom < 1e-12:
        return 0.0
    return float((o * e).sum() / denom)


def check_flash(
    frames: Sequence[RGBImage],
    timestamps_ms: Sequence[int],
    box: Box | None,
    schedule: FlashSchedule,
    min_correlation: float,
) -> FlashCheck:
    """Compare the face's chroma over the clip with the shown colours; the clip's first frame is the
    sequence's start. `box` is the face in any frame (the face moves little within a clip)."""
    if not schedule.steps:
        return FlashCheck(Status.NOT_APPLICABLE, 0.0, True, "no flash sequence in this session")
    if box is None:
        return FlashCheck(Status.NO_FACE, 0.0, False, "no face to measure the flash on")
    if len(frames) < MIN_FRAMES:
        return FlashCheck(
            Status.LOW_QUALITY, 0.0, False, f"{len(frames)} frame(s); the flash check needs {MIN_FRAMES}"
        )
    height, width = frames[0].shape[:2]
    top, bottom, left, right = skin_region(box, height, width)
    if bottom - top < 4 or right - left < 4:
        return FlashCheck(Status.NO_FACE, 0.0, False, "the face box is too small to measure the flash")
    if surround_mean(frames[0], box) is None:
        return FlashCheck(Status.LOW_QUALITY, 0.0, False, "no room around the face to compare the flash with")
    start = timestamps_ms[0]
    step = _stride(box)
    face_rgb, ring_rgb, expected = [], [], []
    for frame, ts in zip(frames, timestamps_ms, strict=True):
        shown = schedule.color_at(ts - start)
        if shown is None or frame.shape[:2] != (height, width):
            continue
        face_rgb.append(frame[top:bottom:step, left:right:step].reshape(-1, 3).mean(axis=0))
        ring_rgb.append(surround_mean(frame, box))
        expected.append(shown)
    distinct = len(set(expected))
    if len(expected) < MIN_FRAMES or distinct < MIN_COLOURS:
        return FlashCheck(
            Status.LOW_QUALITY,
            0.0,
            False,
            f"{len(expected)} frame(s) over {distinct} colour(s) inside the {schedule.duration_ms} ms "
            f"sequence; need {MIN_FRAMES} over {MIN_COLOURS}",
        )
    response = chroma(np.array(face_rgb)) - chroma(np.array(ring_rgb))
    r = correlation(response, chroma(np.array(expected, dtype=np.float64)))
    ok = r >= min_correlation
    verb = ">=" if ok else "<"
    return FlashCheck(
        Status.OK,
        r,
        ok,
        f"face chroma follows the flash colours with correlation {r:.2f} {verb} {min_correlation} "
        f"({len(expected)} frames, {distinct} colours)",
    )
