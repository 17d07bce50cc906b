"""Fixtures for the data toolkit tests: tiny videos written with OpenCV, fake data set trees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture
def data_root() -> Path:
    """../shared/data next to the repository, or skip: the research data sets are never committed."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present: research data sets are kept outside the repository")
    return SHARED_DATA


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


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "clip.mp4", frames: int = 12, fps: float = 10.0) -> Path:
        return write_video(tmp_path / name, frames, fps)

    return make


def touch(root: Path, *relative: str) -> None:
    """Empty files where only the names matter (readers never open them)."""
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
