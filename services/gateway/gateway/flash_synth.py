"""Synthetic clips for validating the flash check (tests and benchmarks/bench_flash.py), not used in serving.

Live: a still face re-lit frame by frame as albedo x (ambient + gain x shown colour), with the full gain on
the face and a fraction of it on the farther background, plus sensor noise. Replay: the same face re-lit by
a different random sequence (a video recorded in another session) or by no flash at all, plus a weak
reflection of the real flash off the replay surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.flash import RGB, FlashSchedule
from liveness.types import Box, RGBImage


@dataclass(frozen=True, slots=True)
class Lighting:
    """Re-lighting parameters: ambient level and flash gain relative to a white screen."""

    ambient: float = 0.8
    gain: float = 0.25
    background_gain_fraction: float = 0.3  # the background is farther from the screen than the face
    noise_sd: float = 3.0  # sensor noise, 8-bit levels


def frame_times_ms(schedule: FlashSchedule, fps: float) -> list[int]:
    """Capture times covering the whole sequence at `fps`."""
    step_ms = 1000.0 / fps
    return [int(round(i * step_ms)) for i in range(int(schedule.duration_ms / step_ms))]


def relight(
    image: RGBImage,
    box: Box,
    colours: Sequence[RGB | None],
    lighting: Lighting,
    rng: np.random.Generator,
) -> list[RGBImage]:
    """One frame per colour (None: no flash) of `image` re-lit as albedo x (ambient + gain x colour)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = box.center
    inside = ((xx - cx) / (box.width / 2)) ** 2 + ((yy - cy) / (box.height / 2)) ** 2 <= 1.0
    gain_map = np.where(inside, lighting.gain, lighting.gain * lighting.background_gain_fraction)[..., None]
    albedo = image.astype(np.float64) / 255.0
    # Normalise so that a white flash keeps the mean level of the original image.
    scale = 255.0 / (lighting.ambient + lighting.gain)
    out = []
    for colour in colours:
        light = np.full(3, lighting.ambient)
        flash = np.zeros(3) if colour is None else np.asarray(colour, dtype=np.float64) / 255.0
        lit = albedo * (light + gain_map * flash) * scale
        lit += rng.normal(0.0, lighting.noise_sd, lit.shape)
        out.append(np.clip(lit, 0, 255).astype(np.uint8))
    return out


def live_clip(
    image: RGBImage,
    box: Box,
    schedule: FlashSchedule,
    lighting: Lighting,
    fps: float,
    rng: np.random.Generator,
) -> tuple[list[RGBImage], list[int]]:
    """Frames and timestamps of a live face lit by the schedule's colours."""
    times = frame_times_ms(schedule, fps)
    return relight(image, box, [schedule.color_at(t) for t in times], lighting, rng), times


def replay_clip(
    image: RGBImage,
    box: Box,
    shown: FlashSchedule,
    recorded: FlashSchedule | None,
    lighting: Lighting,
    fps: float,
    rng: np.random.Generator,
    surface_reflection: float = 0.05,
) -> tuple[list[RGBImage], list[int]]:
    """A replay of a face recorded under `recorded` (None: no flash) while the screen shows `shown`; the
    replay surface reflects `surface_reflection` of the shown flash on top of its own picture."""
    times = frame_times_ms(shown, fps)
    content = relight(image, box, [recorded.color_at(t) if recorded else None for t in times], lighting, rng)
    frames = []
    for frame, t in zip(content, times, strict=True):
        colour = shown.color_at(t)
        glare = np.zeros(3) if colour is None else np.asarray(colour, dtype=np.float64) * surface_reflection
        frames.append(np.clip(frame.astype(np.float64) + glare, 0, 255).astype(np.uint8))
    return frames, times
