"""Gateway overhead: p50 latency of Evaluate with fast test doubles behind it, minus theirs called directly.

    python benchmarks/bench_gateway.py [--concurrency 8] [--requests 400] [--tests 4]

Every server runs as its own process. Both runs happen here, side by side, on loopback: first every
double (tests/reliability/double_service.py) called directly (the baseline: what
the tests cost on their own, fanned out concurrently from one client), then the same load through the
gateway. The doubles need no face, so face detection (the gateway's one real computation, about 20 ms per
640x480 frame) is left out; it is printed separately. Goal: overhead <= 5 ms p50 at 8 concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveness.client import GatewayClient, TestClient, image_media  # noqa: E402
from liveness.stack import free_port, wait_serving  # noqa: E402
from liveness.vision import face  # noqa: E402
from liveness.vision.decode import decode_image  # noqa: E402
from tests.conftest import encode  # noqa: E402


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


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main(concurrency: int, requests: int, n_tests: int) -> None:
    # A small image, so that decoding (done by the gateway and by every double) does not swamp the RPC
    # overhead being measured. Every server is its own process, as in production, so none shares a GIL.
    small = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (96, 1, 3))
    media = image_media(encode(small))
    frame = decode_image(encode(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)))
    names = ["iqa", "cnn2d", "temporal", "voxel3d"][:n_tests]
    ports = {n: free_port() for n in names}
    gateway_port = free_port()
    procs = [
        _spawn(["tests.reliability.double_service", n], {"LIVENESS_PORT": str(p)}) for n, p in ports.items()
    ]
    try:
        for p in ports.values():
            wait_serving(f"127.0.0.1:{p}", 60)
        gw_env = {f"{n.upper()}_ADDR": f"127.0.0.1:{p}" for n, p in ports.items()}
        config = Path(tempfile.mkdtemp()) / "gateway.yaml"
        config.write_text(
            "tests:\n"
            + "".join(f"  {n}: {{address: '127.0.0.1:{p}', weight: 1}}\n" for n, p in ports.items())
        )
        procs.append(
            _spawn(
                ["liveness", "serve", "gateway"],
                {**gw_env, "GATEWAY_CONFIG": str(config), "LIVENESS_PORT": str(gateway_port)},
            )
        )
        wait_serving(f"127.0.0.1:{gateway_port}", 60)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(TestClient(f"127.0.0.1:{p}")) for p in ports.values()]
            gw = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{gateway_port}"))

            async def direct() -> None:
                await asyncio.gather(*(c.check(media) for c in clients))

            async def through_gateway() -> None:
                await gw.evaluate(media)

            await load(direct, concurrency, 40)  # warm-up both paths
            await load(through_gateway, concurrency, 40)
            base = await load(direct, concurrency, requests)
            ours = await load(through_gateway, concurrency, requests)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)

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
