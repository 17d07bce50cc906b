"""Gateway overhead: p50 latency of Evaluate with fast test doubles behind it, minus theirs called directly.

    python benchmarks/bench_gateway.py [--concurrency 1,8] [--requests 1200] [--rounds 6] [--tests 4]

Every server runs as its own process. Both paths run here, side by side, on loopback, in alternating
rounds (so a change in the machine's load hits both alike): every double (tests/reliability/double_service.py)
called directly, as the gateway calls it (the same CheckRequest, the same deadline: the gateway's budget
minus its margin, one request id for the four calls), fanned out concurrently from one client (the baseline:
what the tests cost on their own); then the same load through the gateway. The p50s are over all rounds;
each round's own difference is printed too. The doubles need no face, so face detection (the gateway's one
real computation, about 20 ms per 640x480 frame) is left out; it is printed separately. Goal: overhead
<= 5 ms p50 at 8 concurrent requests. Each run also prints every process's CPU time per request (from
/proc, where there is one): on a machine with fewer cores than busy processes that, not the network hop,
is what the overhead is made of.
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
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import GatewayConfig  # noqa: E402
from liveness.client import GatewayClient, TestClient, image_media, open_channel  # noqa: E402
from liveness.runtime.interceptors import REQUEST_ID_KEY  # noqa: E402
from liveness.stack import free_port, wait_serving  # noqa: E402
from liveness.v1 import liveness_pb2 as pb  # noqa: E402
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


async def _bare_server(port: int) -> None:
    """grpc.aio with nothing of ours: the health service only (no interceptor, logs, metrics or decoding)."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def grpc_floor(concurrency: int, calls: int) -> tuple[float, float]:
    """CPU ms per unary call of bare grpc.aio here: (server, client), each call made like the gateway's."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)])
    try:
        wait_serving(f"127.0.0.1:{port}", 60)
        async with open_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest()

            async def call() -> None:
                await stub.Check(request, timeout=2.0, metadata=((REQUEST_ID_KEY, uuid.uuid4().hex),))

            await load(call, concurrency, 200)
            _, cpu = await measured(call, {"server": proc}, concurrency, calls)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return cpu.get("server", float("nan")), cpu["client"]


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a child process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured(call, procs: dict[str, subprocess.Popen[bytes]], concurrency: int, requests: int):  # type: ignore[no-untyped-def]
    """Latencies of `requests` calls, and each process's CPU ms per request ("client": this one)."""
    before = {name: _cpu_s(p.pid) for name, p in procs.items()}
    client_before = time.process_time()
    latencies = await load(call, concurrency, requests)
    cpu_ms = {"client": (time.process_time() - client_before) / requests * 1000.0}
    for name, p in procs.items():
        after, start = _cpu_s(p.pid), before[name]
        if after is not None and start is not None:
            cpu_ms[name] = (after - start) / requests * 1000.0
    return latencies, cpu_ms


async def main(concurrencies: list[int], requests: int, rounds: int, n_tests: int) -> None:
    # A small image, so that decoding (done by the gateway and by every double) does not swamp the RPC
    # overhead being measured. Every server is its own process, as in production, so none shares a GIL.
    small = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (96, 1, 3))
    media = image_media(encode(small))
    frame = decode_image(encode(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)))
    names = ["iqa", "cnn2d", "temporal", "voxel3d"][:n_tests]
    ports = {n: free_port() for n in names}
    gateway_port = free_port()
    procs = {
        n: _spawn(["tests.reliability.double_service", n], {"LIVENESS_PORT": str(p)})
        for n, p in ports.items()
    }
    rows = []
    try:
        for p in ports.values():
            wait_serving(f"127.0.0.1:{p}", 60)
        config = Path(tempfile.mkdtemp()) / "gateway.yaml"
        config.write_text(
            "tests:\n"
            + "".join(f"  {n}: {{address: '127.0.0.1:{p}', weight: 1}}\n" for n, p in ports.items())
        )
        procs["gateway"] = _spawn(
            ["liveness", "serve", "gateway"],
            {"GATEWAY_CONFIG": str(config), "LIVENESS_PORT": str(gateway_port)},
        )
        wait_serving(f"127.0.0.1:{gateway_port}", 60)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(TestClient(f"127.0.0.1:{p}")) for p in ports.values()]
            gw = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{gateway_port}"))

            defaults = GatewayConfig(tests=())
            call_timeout_s = (defaults.budget_ms - defaults.margin_ms) / 1000.0
            empty_challenge = pb.Challenge()

            async def direct() -> None:
                rid = uuid.uuid4().hex
                await asyncio.gather(
                    *(
                        c.check(media, request_id=rid, timeout_s=call_timeout_s, challenge=empty_challenge)
                        for c in clients
                    )
                )

            async def through_gateway() -> None:
                await gw.evaluate(media)

            per_round = max(requests // rounds, 1)
            for concurrency in concurrencies:
                await load(direct, concurrency, 40)  # warm-up both paths
                await load(through_gateway, concurrency, 40)
                base: list[float] = []
                ours: list[float] = []
                base_cpu: dict[str, float] = {}
                our_cpu: dict[str, float] = {}
                round_overheads = []
                for _ in range(rounds):
                    b, b_cpu = await measured(direct, procs, concurrency, per_round)
                    o, o_cpu = await measured(through_gateway, procs, concurrency, per_round)
                    base += b
                    ours += o
                    for total, part in ((base_cpu, b_cpu), (our_cpu, o_cpu)):
                        for k, v in part.items():
                            total[k] = total.get(k, 0.0) + v / rounds
                    round_overheads.append(pct(o, 50) - pct(b, 50))
                rows.append((concurrency, base, base_cpu, ours, our_cpu, round_overheads))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=15)

    floor_server_ms, floor_client_ms = await grpc_floor(max(concurrencies), 2000)
    face.load()
    detect_ms = statistics.median(_timed(lambda: face.observe(frame)) for _ in range(10))
    cores = os.cpu_count() or 1
    print(
        f"gateway overhead, {n_tests} fast doubles, {requests} requests per path in {rounds} alternating "
        f"rounds, {cores} CPU cores, "
        f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"{'conc.':>5} {'path':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}   CPU ms per request: "
        "client, gateway, doubles (sum)"
    )
    for concurrency, base, base_cpu, ours, our_cpu, round_overheads in rows:
        for label, lat, cpu in (
            ("tests directly (baseline)", base, base_cpu),
            ("through the gateway", ours, our_cpu),
        ):
            doubles = sum(v for k, v in cpu.items() if k in names)
            print(
                f"{concurrency:>5} {label:<26}{pct(lat, 50):>9.2f}{pct(lat, 95):>9.2f}{pct(lat, 99):>9.2f}"
                f"   {cpu['client']:.2f}, {cpu.get('gateway', 0.0):.2f}, {doubles:.2f}"
            )
        overhead = pct(ours, 50) - pct(base, 50)
        print(
            f"{concurrency:>5} overhead p50: {overhead:.2f} ms (goal <= 5 ms at concurrency 8); "
            f"ratio gateway/direct p50: {pct(ours, 50) / pct(base, 50):.2f}; per round: "
            + " ".join(f"{x:.1f}" for x in round_overheads)
        )
    print(
        "With every process sharing the same cores, a saturated run's latency is its CPU per request times "
        "the requests queued per core, so the overhead grows with concurrency / cores x (gateway CPU - the "
        "client CPU it saves)."
    )
    floor_ms = floor_server_ms + floor_client_ms
    print(
        "grpc floor, a bare grpc.aio server (health Check, nothing of ours) at concurrency "
        f"{max(concurrencies)}: {floor_server_ms:.3f} ms CPU per call in the server, "
        f"{floor_client_ms:.3f} ms in the client. A gateway doing nothing but relay adds at least one server "
        "call and one client call of CPU per request "
        f"(it makes {n_tests} calls, the client {n_tests - 1} fewer): {floor_ms:.2f} ms, about "
        + ", ".join(f"{c / cores * floor_ms:.1f} ms at concurrency {c}" for c in concurrencies if c > cores)
        + f" once the {cores} cores are saturated."
    )
    print(f"face detection, one 640x480 noise frame (not in the figures above): {detect_ms:.1f} ms")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare-server"]:
        asyncio.run(_bare_server(int(sys.argv[2])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 8],
        help="comma-separated concurrencies, each measured both ways (default 1,8)",
    )
    parser.add_argument("--requests", type=int, default=1200, help="per path and concurrency")
    parser.add_argument("--rounds", type=int, default=6, help="alternating direct / gateway rounds")
    parser.add_argument("--tests", type=int, default=4, choices=[1, 2, 3, 4])
    args = parser.parse_args()
    asyncio.run(main(args.concurrency, args.requests, args.rounds, args.tests))
