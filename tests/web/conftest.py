"""Fixtures for the web capture page: a gateway of test doubles on a background event loop, the
`liveness web` bridge as a child process, and a fake-camera video for Chromium."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pytest

from gateway.config import Endpoint, GatewayConfig, Thresholds
from gateway.servicer import GatewayApp
from gateway.sessions import SessionSettings
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.stack import free_port
from tests.doubles import DoubleModel

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


class LoopThread:
    """An asyncio loop on a daemon thread, so synchronous tests (HTTP, selenium) can run grpc.aio servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-grpc", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        self.loop.close()


def double_tests() -> list[DoubleModel]:
    """One image test and one clip test with fixed scores; neither verifies challenge actions."""
    return [
        DoubleModel(name="frame", score=0.35, accepts_clip=False),
        DoubleModel(name="clip", score=0.45, accepts_image=False, min_frames=2),
    ]


async def _start_gateway(stack: AsyncExitStack, models: list[DoubleModel]) -> str:
    endpoints = []
    for model in models:
        address = await stack.enter_async_context(serve_model(model))
        endpoints.append(Endpoint(model.name, address, 1.0))
    config = GatewayConfig(
        budget_ms=8000,
        tests=tuple(endpoints),
        thresholds=Thresholds(live=0.6, spoof=0.4),
        sessions=SessionSettings(),
    )
    settings = ServerSettings(port=0, grace_s=0)
    running = await server.start(GatewayApp(config, settings.limits), settings)
    stack.push_async_callback(running.stop, 0)
    return running.address


@pytest.fixture(scope="package")
def gateway_address() -> Iterator[str]:
    """A real loopback gateway with sessions on, in front of two test doubles."""
    loop = LoopThread()
    stack = AsyncExitStack()
    try:
        yield loop.run(_start_gateway(stack, double_tests()))
    finally:
        loop.run(stack.aclose())
        loop.close()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"liveness web exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


@contextmanager
def liveness_web(
    *args: str, start_timeout_s: float = 30.0, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`liveness web ARGS` as a child process, exactly as a user starts it; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveness", "web", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url + "healthz", proc, start_timeout_s)
        yield url
    finally:
        proc.terminate()  # SIGTERM: it also stops a stack it started
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="package")
def web_url(gateway_address: str) -> Iterator[str]:
    """The bridge in front of the gateway of doubles."""
    with liveness_web("--gateway", gateway_address) as url:
        yield url


@pytest.fixture
def real_web_url() -> Iterator[str]:
    """The bridge starting its own local stack: the packaged gateway config and the trained tests.

    The gateway's budget is raised from 2 s: on a shared 2-core CI machine the first calls can take longer,
    and this test checks the page, not the stack's speed (benchmarks do that).
    """
    with liveness_web(start_timeout_s=180.0, env={"GATEWAY_BUDGET_MS": "15000"}) as url:
        yield url


def write_y4m(path: Path, image_rgb: np.ndarray, frames: int = 30, fps: int = 15) -> Path:
    """A still photo as a 640x480 I420 y4m video: Chromium's fake camera plays (and loops) it."""
    height, width = 480, 640
    canvas = np.full((height, width, 3), 96, np.uint8)
    side = min(height, width)
    photo = cv2.resize(image_rgb, (side, side), interpolation=cv2.INTER_AREA)
    left = (width - side) // 2
    canvas[:, left : left + side] = photo
    i420 = cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n")
            f.write(i420)
    return path
