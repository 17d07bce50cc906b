"""Blinks from the eye landmarks: the eye aspect ratio (EAR) over time dips and comes back.

Method (Soukupova and Cech's EAR, with a per-clip baseline): the open-eye EAR differs between people and
head poses, so the threshold is relative to the clip's own open level, the median EAR (eyes are open most of
the time). A blink is a run of frames whose EAR falls below `close_ratio` x baseline, lasting at most
`max_closed_ms`, with an open frame (EAR >= `open_ratio` x baseline) before and after it: eyes that
close and stay closed, or a clip that starts closed, do not count. A printed photo gives a flat EAR
track (landmark jitter only), a live face blinks about every 3-6 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from liveness.vision.face import LEFT_EYE, RIGHT_EYE, eye_aspect_ratio


@dataclass(frozen=True, slots=True)
class BlinkSettings:
    """Thresholds relative to the clip's open-eye EAR (see MODEL_CARD for how they were measured)."""

    close_ratio: float = 0.6
    open_ratio: float = 0.88
    max_closed_ms: float = 500.0

    def __post_init__(self) -> None:
        if not (0.0 < self.close_ratio < self.open_ratio <= 1.0) or self.max_closed_ms <= 0:
            raise ValueError(f"invalid blink settings: {self}")


@dataclass(frozen=True, slots=True)
class Blink:
    """One blink: first and last closed frame, the deepest frame and its EAR relative to the baseline."""

    start: int
    end: int
    deepest: int
    depth: float  # 1 - EAR_min / baseline, in [0, 1]


def ear_track(landmarks: Sequence[npt.NDArray[np.float32] | None]) -> npt.NDArray[np.float64]:
    """Mean EAR of both eyes per frame; NaN where a frame has no landmarks."""
    out = np.full(len(landmarks), np.nan)
    for i, lm in enumerate(landmarks):
        if lm is not None and np.all(np.isfinite(lm)):
            out[i] = 0.5 * (eye_aspect_ratio(lm[LEFT_EYE]) + eye_aspect_ratio(lm[RIGHT_EYE]))
    return out


def detect_blinks(
    ear: npt.NDArray[np.float64], timestamps_ms: Sequence[int], settings: BlinkSettings = BlinkSettings()
) -> list[Blink]:
    """Blinks in an EAR track (NaN frames are skipped: they neither open nor close the eye)."""
    if len(ear) != len(timestamps_ms):
        raise ValueError(f"{len(ear)} EAR values for {len(timestamps_ms)} timestamps")
    valid = np.flatnonzero(np.isfinite(ear))
    if len(valid) < 3:
        return []
    baseline = float(np.median(ear[valid]))
    if baseline <= 0:
        return []
    closed = ear < settings.close_ratio * baseline
    opened = ear >= settings.open_ratio * baseline
    blinks: list[Blink] = []
    seen_open = False
    run: list[int] = []
    for i in valid:
        if closed[i]:
            if seen_open:
                run.append(int(i))
            continue
        if run and opened[i]:
            duration_ms = timestamps_ms[run[-1]] - timestamps_ms[run[0]]
            if duration_ms <= settings.max_closed_ms:
                deepest = min(run, key=lambda k: ear[k])
                blinks.append(Blink(run[0], run[-1], deepest, float(1.0 - ear[deepest] / baseline)))
            run = []
        if opened[i]:
            seen_open = True
            run = []
    return blinks


def close_eyes(landmarks: npt.NDArray[np.float32], closure: float) -> npt.NDArray[np.float32]:
    """The same landmarks with both eyelids moved `closure` (0 open, 1 shut) of the way to the eye's axis.

    The upper lid points (2, 3 of each eye) and lower lid points (5, 6) move toward the line through the
    eye corners, which is how the EAR of a real blink falls. Used to put synthetic blinks into real tracks.
    """
    if not 0.0 <= closure <= 1.0:
        raise ValueError(f"closure must be in [0, 1], got {closure}")
    out = landmarks.astype(np.float32, copy=True)
    for eye in (LEFT_EYE, RIGHT_EYE):
        pts = out[eye]
        a, b = pts[0], pts[3]
        axis = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
        for k in (1, 2, 4, 5):
            rel = pts[k] - a
            foot = a + axis * float(rel @ axis)
            pts[k] = pts[k] + closure * (foot - pts[k])
        out[eye] = pts
    return out


BLINK_PROFILE = (0.5, 1.0, 0.6)
"""Eyelid closure over a synthetic blink's frames at about 10 fps: closing, shut, opening (about 300 ms)."""


def inject_blink(
    track: Sequence[npt.NDArray[np.float32]], at: int, profile: Sequence[float] = BLINK_PROFILE
) -> list[npt.NDArray[np.float32]]:
    """A copy of a landmark track with a blink whose closure follows `profile` starting at frame `at`."""
    out = [lm.copy() for lm in track]
    for k, closure in enumerate(profile):
        if 0 <= at + k < len(out):
            out[at + k] = close_eyes(out[at + k], closure)
    return out
