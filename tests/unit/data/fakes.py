"""Tiny fixtures made on the fly: videos written with OpenCV, empty files standing for data set trees."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_video(path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> Path:
    """A small video whose frame i is uniformly grey level 10 * i (so a test can tell frames apart)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path.suffix}"
    width, height = size
    for i in range(frames):
        writer.write(np.full((height, width, 3), 10 * i, np.uint8))
    writer.release()
    return path


def touch(root: Path, *relative: str) -> None:
    """Empty files where only the names matter (readers never open them)."""
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
