"""Synthetic presentation-attack sequences made from one still: what a print or a screen does over time.

A photo held in front of a camera moves as one plane (a homography per frame), may bend, and a screen adds
moire and a colour cast. These generators give the sequence model and the motion cue spoof sequences of
kinds the small replay-dev set lacks. Each returns the frames and where the still's face box went.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from liveness.types import Box, RGBImage

KINDS = ("rigid", "warp", "screen")


@dataclass(frozen=True, slots=True)
class SynthSequence:
    """Frames of one synthetic attack, the face box in each, and the kind of attack it imitates."""

    frames: tuple[RGBImage, ...]
    boxes: tuple[Box, ...]
    kind: str


def _plane_homography(
    rng: np.random.Generator, w: int, h: int, t: float, motion: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """A hand-held plane at time t in [0, 1]: smooth shift, rotation, scale and a little perspective tilt."""
    dx, dy, rot_deg, scale, tilt_x, tilt_y = motion * np.array(
        [np.sin(np.pi * t), np.sin(2 * np.pi * t) * 0.5, t, t, np.sin(np.pi * t), t]
    )
    cx, cy = w / 2.0, h / 2.0
    a = np.deg2rad(rot_deg)
    s = 1.0 + scale
    similarity = np.array(
        [[s * np.cos(a), -s * np.sin(a), 0.0], [s * np.sin(a), s * np.cos(a), 0.0], [0.0, 0.0, 1.0]]
    )
    to_centre = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, cx + dx], [0.0, 1.0, cy + dy], [0.0, 0.0, 1.0]])
    perspective = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [tilt_x / (w * w), tilt_y / (h * h), 1.0]])
    return back @ perspective @ similarity @ to_centre


def _warp_box(box: Box, homography: npt.NDArray[np.float64]) -> Box:
    corners = np.array(
        [[box.left, box.top], [box.right, box.top], [box.right, box.bottom], [box.left, box.bottom]],
        np.float64,
    )
    moved = cv2.perspectiveTransform(corners[None], homography)[0]
    return Box(
        float(moved[:, 0].min()), float(moved[:, 1].min()), float(moved[:, 0].max()), float(moved[:, 1].max())
    )


def _bend(image: RGBImage, amount_px: float) -> RGBImage:
    """A sheet bent about its vertical axis: rows bow up or down by up to `amount_px` at the edges."""
    h, w = image.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    u = (xs - w / 2.0) / (w / 2.0)
    map_y = ys + amount_px * (u**2 - 0.33) * (ys - h / 2.0) / (h / 2.0)
    map_x = xs * (1.0 + 0.02 * amount_px / max(w, 1) * (1.0 - u**2))
    return cast(
        RGBImage,
        cv2.remap(
            image,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        ),
    )


def moire(
    shape: tuple[int, int], rng: np.random.Generator, strength: float = 0.12
) -> npt.NDArray[np.float32]:
    """A multiplicative moire field (H, W) around 1.0: two slightly mismatched gratings beating together."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(2.2, 3.5)
    angle = rng.uniform(0, np.pi)
    delta = rng.uniform(0.02, 0.08)
    g1 = np.cos(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period)
    g2 = np.cos(2 * np.pi * (xs * np.cos(angle + delta) + ys * np.sin(angle + delta)) / (period * 1.03))
    return (1.0 + strength * 0.5 * (g1 * g2)).astype(np.float32)


def _screen_look(image: RGBImage, field: npt.NDArray[np.float32], rng: np.random.Generator) -> RGBImage:
    """Moire, a colour cast, raised blacks and a slight blur: a face replayed on a display."""
    cast = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    out = image.astype(np.float32) * field[:, :, None] * cast
    out = 25.0 + out * (230.0 / 255.0)
    blurred = cv2.GaussianBlur(out, (3, 3), rng.uniform(0.3, 0.9))
    return np.clip(blurred, 0, 255).astype(np.uint8)


def make_sequence(
    image: RGBImage, box: Box, n_frames: int, kind: str, rng: np.random.Generator
) -> SynthSequence:
    """`n_frames` frames of `image` presented as a print moved rigidly, a bending print, or a screen."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    h, w = image.shape[:2]
    motion = np.array(
        [
            rng.uniform(-25, 25),
            rng.uniform(-15, 15),
            rng.uniform(-6, 6),
            rng.uniform(-0.08, 0.08),
            rng.uniform(-40, 40),
            rng.uniform(-40, 40),
        ]
    )
    bend_px = rng.uniform(6, 18) * rng.choice([-1.0, 1.0])
    field = moire((h, w), rng) if kind == "screen" else None
    # Screens and prints lose sharpness and contrast once; the sequence then moves that one picture.
    source = image
    if kind == "screen" and field is not None:
        source = _screen_look(image, field, rng)
    frames, boxes = [], []
    for i in range(n_frames):
        t = i / max(n_frames - 1, 1)
        sheet = _bend(source, bend_px * np.sin(np.pi * (0.3 + t))) if kind == "warp" else source
        homography = _plane_homography(rng, w, h, t, motion)
        frame = cast(
            RGBImage,
            cv2.warpPerspective(
                sheet, homography, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            ),
        )
        if kind == "screen":
            # Refresh flicker: the display's brightness changes a little from frame to frame.
            frame = np.clip(frame.astype(np.float32) * rng.uniform(0.95, 1.05), 0, 255).astype(np.uint8)
        frames.append(np.ascontiguousarray(frame))
        boxes.append(_warp_box(box, homography))
    return SynthSequence(frames=tuple(frames), boxes=tuple(boxes), kind=kind)
