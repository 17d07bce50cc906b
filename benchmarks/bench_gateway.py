"""Gateway overhead: p50 latency of Evaluate with fast test doubles behind it, minus theirs called directly.

    python benchmarks/bench_gateway.py [--concurrency 8] [--requests 400] [--tests 4]

Both runs happen here, side by side, on loopback: first every double called directly (the baseline: what
the tests cost on their own, fanned out concurrently from one client), then the same load through the
gateway. The doubles need no face, so face detection (the gateway's one real computation, about 20 ms per
640x480 frame) is left out; it is printed separately. Goal: overhead <= 5 ms p50 at 8 concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import Endpoint, GatewayConfig  # noqa: E402
from gateway.servicer import GatewayApp  # noqa: E402
from liveness.client import GatewayClient, TestClient, image_media  # noqa: E402
from liveness.runtime import server  # noqa: E402
from liveness.runtime.config import ServerSettings  # noqa: E402
from liveness.runtime.testing import serve_model  # noqa: E402
from liveness.vision import face  # noqa: E402
from liveness.vision.decode import decode_image  # noqa: E402
from tests.conftest import encode  # noqa: E402
from tests.doubles import DoubleModel  # noqa: E402


async def load(call, concurrency: int, requests: int) -> list[float]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - start) * 1000.0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def main(concurrency: int, requests: int, n_tests: int) -> None:
    # A small image, so that decoding (done by the gateway and by every double) does not swamp the RPC
    # overhead being measured; all servers share this process's GIL.
    small = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (96, 1, 3))
    media = image_media(encode(small))
    frame = decode_image(encode(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)))
    names = ["iqa", "cnn2d", "temporal", "voxel3d"][:n_tests]
    async with AsyncExitStack() as stack:
        addresses = [await stack.enter_async_context(serve_model(DoubleModel(n, score=0.8))) for n in names]
        clients = [await stack.enter_async_context(TestClient(a)) for a in addresses]
        endpoints = tuple(Endpoint(n, a, 1.0) for n, a in zip(names, addresses, strict=True))
        config = GatewayConfig(tests=endpoints)
        settings = ServerSettings(port=0, grace_s=0)
        running = await server.start(GatewayApp(config, settings.limits), settings)
        gw = await stack.enter_async_context(GatewayClient(running.address))

        async def direct() -> None:
            await asyncio.gather(*(c.check(media) for c in clients))

        async def through_gateway() -> None:
            await gw.evaluate(media)

        await load(direct, concurrency, 40)  # warm-up both paths
        await load(through_gateway, concurrency, 40)
        base = await load(direct, concurrency, requests)
        ours = await load(through_gateway, concurrency, requests)
        await running.stop(0)

    face.load()
    detect_ms = statistics.median(_timed(lambda: face.observe(frame)) for _ in range(10))
    print(f"gateway overhead, {n_tests} fast doubles, concurrency {concurrency}, {requests} requests each")
    print(f"{'path':<28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    print(f"{'tests directly (baseline)':<28}{pct(base, 50):>9.2f}{pct(base, 95):>9.2f}{pct(base, 99):>9.2f}")
    print(f"{'through the gateway':<28}{pct(ours, 50):>9.2f}{pct(ours, 95):>9.2f}{pct(ours, 99):>9.2f}")
    overhead = pct(ours, 50) - pct(base, 50)
    ratio = pct(ours, 50) / pct(base, 50)
    print(f"overhead p50: {overhead:.2f} ms (goal <= 5 ms); ratio gateway/direct p50: {ratio:.2f}")
    print(f"face detection, one 640x480 noise frame (not in the figures above): {detect_ms:.1f} ms")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--tests", type=int, default=4, choices=[1, 2, 3, 4])
    args = parser.parse_args()
    asyncio.run(main(args.concurrency, args.requests, args.tests))
