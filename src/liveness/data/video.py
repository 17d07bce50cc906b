"""Video files to frames with timestamps, read sequentially (never the whole file in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from liveness.errors import InvalidInput
from liveness.types import Media, RGBImage
from liveness.vision.frames import evenly_spaced

DEFAULT_FPS = 30.0
"""Assumed when a file reports no frame rate, to still give timestamps in milliseconds."""


def iter_frames(path: Path) -> Iterator[tuple[int, RGBImage, int]]:
    """(index, RGB frame, timestamp_ms) for every frame, until the stream ends.

    Reads to the end rather than trusting CAP_PROP_FRAME_COUNT, which some files report wrongly.
    Timestamps come from the container; when it reports none (0 after the first frame) or goes backwards,
    they fall back to index / fps, so they always increase strictly.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InvalidInput(f"{path.name}: cannot open video")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        index = 0
        last_ms = -1
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            ts_ms = int(round(cap.get(cv2.CAP_PROP_POS_MSEC)))
            if ts_ms <= last_ms:
                ts_ms = max(int(round(index * 1000.0 / fps)), last_ms + 1)
            last_ms = ts_ms
            yield index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), ts_ms
            index += 1
    finally:
        cap.release()


def sample_indices(total: int, count: int) -> list[int]:
    """`count` frame indexes evenly spaced over `total` frames, first and last included, no repeats.

    Fewer than `count` come back when the video is shorter.
    """
    if total < 1 or count < 1:
        raise ValueError(f"need total >= 1 and count >= 1, got total={total}, count={count}")
    return evenly_spaced(total, count)


def read_frames(
    path: Path, *, every: int | None = None, count: int | None = None
) -> list[tuple[RGBImage, int]]:
    """Sample (frame, timestamp_ms) pairs: every `every`-th frame, or `count` evenly spaced over the video.

    Evenly spaced sampling needs the length, so it first counts frames by decoding (grab only) once.
    """
    if (every is None) == (count is None):
        raise ValueError("give exactly one of every= or count=")
    if every is not None:
        if every < 1:
            raise ValueError("every must be >= 1")
        frames = [(f, t) for i, f, t in iter_frames(path) if i % every == 0]
    else:
        assert count is not None
        if count < 1:
            raise ValueError("count must be >= 1")
        total = frame_count(path)
        if total == 0:
            raise InvalidInput(f"{path.name}: no decodable frames")
        wanted = set(sample_indices(total, count))
        frames = [(f, t) for i, f, t in iter_frames(path) if i in wanted]
    if not frames:
        raise InvalidInput(f"{path.name}: no decodable frames")
    return frames


def read_clip(path: Path, *, count: int | None = None, every: int | None = None) -> Media:
    """A video as clip Media (frames + timestamps), sampled as `read_frames` does."""
    frames = read_frames(path, every=every, count=count)
    return Media(frames=tuple(f for f, _ in frames), timestamps_ms=tuple(t for _, t in frames), is_clip=True)


def frame_count(path: Path) -> int:
    """Frames in the file, counted by grabbing each (the header's count is not trusted)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InvalidInput(f"{path.name}: cannot open video")
    try:
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()
