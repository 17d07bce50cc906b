"""What sessions cost: CreateSession latency, and Evaluate of a clip with a session vs the same clip without.

A gateway in front of one fast clip-test double that verifies challenges (no face needed, so the gateway runs
no face detection for the tests); with a session the gateway also finds the face on the middle frame and
runs the flash check. The clip: 16 frames of the astronaut at 640x480, JPEG. Prints medians and p95 and the
ratio of Evaluate with a session to without (the session's overhead).

    .venv/bin/python benchmarks/bench_sessions.py --requests 30
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import click
import numpy as np
import skimage.data

from gateway.config import Endpoint, GatewayConfig
from gateway.servicer import GatewayApp
from liveness.client import GatewayClient, clip_media
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.types import ActionResult, CheckOptions, FaceObservation, Media, TestInfo, TestResult
from liveness.vision.decode import encode_jpeg


@dataclass
class ChallengeDouble:
    """A clip test answering at once, every requested action seen."""

    @property
    def info(self) -> TestInfo:
        return TestInfo(
            "temporal",
            "double-1",
            accepts_image=False,
            accepts_clip=True,
            min_frames=2,
            max_frames=16,
            needs_face=False,
        )

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        seen = tuple(ActionResult(a, True, i, 0.9) for i, a in enumerate(options.challenge))
        return replace(TestResult(0.9), challenge=seen)

    def warmup(self) -> None:
        return None


def _stats(ms: list[float]) -> str:
    return f"median {np.median(ms):7.1f} ms   p95 {np.percentile(ms, 95):7.1f} ms"


async def _run(requests: int) -> None:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    frame[:, 64:576] = skimage.data.astronaut()[16:496]
    clip = clip_media([(encode_jpeg(frame), 125 * i) for i in range(16)])
    async with serve_model(ChallengeDouble()) as address:
        config = GatewayConfig(budget_ms=10_000, tests=(Endpoint("temporal", address, 1.0),))
        settings = ServerSettings(port=0, grace_s=0)
        running = await server.start(GatewayApp(config, settings.limits), settings)
        try:
            async with GatewayClient(running.address) as client:
                await client.evaluate(clip)  # warm the channels
                create, with_session, without = [], [], []
                for _ in range(requests):
                    start = time.perf_counter()
                    session = await client.create_session()
                    create.append((time.perf_counter() - start) * 1000.0)
                    start = time.perf_counter()
                    await client.evaluate(clip, session=session)
                    with_session.append((time.perf_counter() - start) * 1000.0)
                    start = time.perf_counter()
                    await client.evaluate(clip)
                    without.append((time.perf_counter() - start) * 1000.0)
        finally:
            await running.stop(0)
    print(f"{requests} requests each, 16-frame 640x480 clip, one challenge-verifying test double")
    print(f"CreateSession             {_stats(create)}")
    print(f"Evaluate without session  {_stats(without)}")
    print(f"Evaluate with session     {_stats(with_session)}")
    print(f"session overhead ratio    {np.median(with_session) / np.median(without):.2f}x (medians)")


@click.command()
@click.option("--requests", type=int, default=30, show_default=True)
def main(requests: int) -> None:
    asyncio.run(_run(requests))


if __name__ == "__main__":
    main()
