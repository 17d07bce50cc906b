"""Shared fixtures: sample media made in memory, data-set location, a real Redis."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from tests.redis_server import RedisServer, redis_server_binary

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def encode(array: np.ndarray, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (public domain, NASA): a real face, 512x512 RGB."""
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray) -> bytes:
    return encode(astronaut)


@pytest.fixture(scope="session")
def plain_jpeg() -> bytes:
    """A 64x48 JPEG with no face in it."""
    rng = np.random.default_rng(0)
    return encode(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """../shared/data, or skip: the research data sets are not part of the repository."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not present ({SHARED_DATA}): data-set tests need it")
    return SHARED_DATA


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for one test (skipped with the reason when not
    installed, failed in CI)."""
    server = RedisServer(redis_server_binary(), tmp_path).start()
    try:
        yield server
    finally:
        server.close()
