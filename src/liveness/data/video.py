"""Video files to frames with timestamps, read sequentially (never the whole file in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from liveness.errors import InvalidInput
from liveness.types import RGBImage


def iter_frames(path: Path) -> Iterator[tuple[int, RGBImage, int]]:
    """(index, RGB frame, timestamp_ms) for every frame, until the stream ends.

    Reads to the end rather than trusting CAP_PROP_FRAME_COUNT, which some files report wrongly.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InvalidInput(f"{path.name}: cannot open video")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            ts = int(round(pos_ms)) if pos_ms > 0 or index == 0 else int(round(index * 1000.0 / (fps or 30.0)))
            yield index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), ts
            index += 1
    finally:
        cap.release()


def read_frames(path: Path, *, every: int | None = None, count: int | None = None) -> list[tuple[RGBImage, int]]:
    """Sample frames: every `every`-th frame, or `count` evenly spaced over the whole video.

    Evenly spaced sampling needs the length, so it first counts frames by decoding (grab only) once.
    Timestamps are strictly increasing as long as the file's are.
    """
    if (every is None) == (count is None):
        raise ValueError("give exactly one of every= or count=")
    if every is not None:
        if every < 1:
            raise ValueError("every must be >= 1")
        return [(f, t) for i, f, t in iter_frames(path) if i % every == 0]
    assert count is not None
    if count < 1:
        raise ValueError("count must be >= 1")
    total = _count_frames(path)
    if total == 0:
        raise InvalidInput(f"{path.name}: no decodable frames")
    wanted = set(np.linspace(0, total - 1, num=min(count, total)).round().astype(int).tolist())
    return [(f, t) for i, f, t in iter_frames(path) if i in wanted]


def _count_frames(path: Path) -> int:
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
