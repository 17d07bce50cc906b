"""Fixtures for the data toolkit tests (the shared `data_root` fixture is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .fakes import write_video


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "clip.mp4", frames: int = 12, fps: float = 10.0) -> Path:
        return write_video(tmp_path / name, frames, fps)

    return make
