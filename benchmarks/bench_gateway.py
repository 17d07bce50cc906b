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

A third path runs in the same rounds: a bare relay (this file, --relay-server), a grpc.aio server that
forwards each Evaluate's image to every double and answers their mean score, with none of the gateway's
own work (decoding, interceptor, logs, metrics, routing, fusion). Its overhead is what the hop through one
more Python gRPC process costs here on its own; the gateway's minus the relay's is what the gateway's code
adds on top.
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
from grpc_health.v1 import health, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import GatewayConfig  # noqa: E402
from liveness.client import GatewayClient, TestClient, image_media, open_channel  # noqa: E402
from liveness.runtime.interceptors import REQUEST_ID_KEY  # noqa: E402
from liveness.stack import free_port, wait_serving  # noqa: E402
from liveness.v1 import liveness_pb2 as pb  # noqa: E402
from liveness.v1 import liveness_pb2_grpc as pb_grpc  # noqa: E402
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


class _Relay(pb_grpc.LivenessServicer):
    """Evaluate -> the request's image to every double at once -> their mean score; nothing else."""

    def __init__(self, stubs: list[pb_grpc.LivenessTestStub], timeout_s: float) -> None:
        self._stubs = stubs
        self._timeout_s = timeout_s

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        rid = request.request_id or uuid.uuid4().hex
        check = pb.CheckRequest(request_id=rid, media=request.media, challenge=request.challenge)
        answers = await asyncio.gather(
            *(s.Check(check, timeout=self._timeout_s, metadata=((REQUEST_ID_KEY, rid),)) for s in self._stubs)
        )
        score = sum(a.score for a in answers) / len(answers)
        return pb.EvaluateResponse(request_id=rid, decision=pb.DECISION_LIVE, score=score)


async def _relay_server(port: int, addresses: list[str], timeout_s: float) -> None:
    """The bare relay on `port`, with the gateway's channel options to the doubles and a health service."""
    channels = [open_channel(a) for a in addresses]
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    pb_grpc.add_LivenessServicer_to_server(
        _Relay([pb_grpc.LivenessTestStub(c) for c in channels], timeout_s), server
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


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
    gateway_port, relay_port = free_port(), free_port()
    defaults = GatewayConfig(tests=())
    call_timeout_s = (defaults.budget_ms - defaults.margin_ms) / 1000.0
    procs = {
        n: _spawn(["tests.reliability.double_service", n], {"LIVENESS_PORT": str(p)})
        for n, p in ports.items()
    }
    # path label -> (the process serving it, or None for the doubles called directly)
    servers = {"tests directly (baseline)": None, "bare relay": "relay", "through the gateway": "gateway"}
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
        procs["relay"] = subprocess.Popen(
            [sys.executable, __file__, "--relay-server", str(relay_port), str(call_timeout_s)]
            + [f"127.0.0.1:{p}" for p in ports.values()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_serving(f"127.0.0.1:{gateway_port}", 60)
        wait_serving(f"127.0.0.1:{relay_port}", 60)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(TestClient(f"127.0.0.1:{p}")) for p in ports.values()]
            gw = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{gateway_port}"))
            relay = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{relay_port}"))
            empty_challenge = pb.Challenge()

            async def direct() -> None:
                rid = uuid.uuid4().hex
                await asyncio.gather(
                    *(
                        c.check(media, request_id=rid, timeout_s=call_timeout_s, challenge=empty_challenge)
                        for c in clients
                    )
                )

            async def through_relay() -> None:
                await relay.evaluate(media)

            async def through_gateway() -> None:
                await gw.evaluate(media)

            calls = dict(zip(servers, (direct, through_relay, through_gateway), strict=True))
            per_round = max(requests // rounds, 1)
            for concurrency in concurrencies:
                for call in calls.values():
                    await load(call, concurrency, 40)  # warm-up every path
                latencies: dict[str, list[float]] = {label: [] for label in calls}
                cpu: dict[str, dict[str, float]] = {label: {} for label in calls}
                round_overheads: dict[str, list[float]] = {label: [] for label in calls}
                for _ in range(rounds):
                    p50s = {}
                    for label, call in calls.items():
                        lat, part = await measured(call, procs, concurrency, per_round)
                        latencies[label] += lat
                        p50s[label] = pct(lat, 50)
                        for k, v in part.items():
                            cpu[label][k] = cpu[label].get(k, 0.0) + v / rounds
                    base = p50s["tests directly (baseline)"]
                    for label, p50 in p50s.items():
                        round_overheads[label].append(p50 - base)
                rows.append((concurrency, latencies, cpu, round_overheads))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=15)

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
        "client, gateway or relay, doubles (sum)"
    )
    for concurrency, latencies, cpu, round_overheads in rows:
        for label, lat in latencies.items():
            server = servers[label]
            doubles = sum(v for k, v in cpu[label].items() if k in names)
            hop = cpu[label].get(server, 0.0) if server else 0.0
            print(
                f"{concurrency:>5} {label:<26}{pct(lat, 50):>9.2f}{pct(lat, 95):>9.2f}{pct(lat, 99):>9.2f}"
                f"   {cpu[label]['client']:.2f}, {hop:.2f}, {doubles:.2f}"
            )
        base = pct(latencies["tests directly (baseline)"], 50)
        ours = pct(latencies["through the gateway"], 50)
        bare = pct(latencies["bare relay"], 50)
        print(
            f"{concurrency:>5} overhead p50: {ours - base:.2f} ms (goal <= 5 ms at concurrency 8); "
            f"ratio gateway/direct p50: {ours / base:.2f}; per round: "
            + " ".join(f"{x:.1f}" for x in round_overheads["through the gateway"])
        )
        print(
            f"{concurrency:>5}   of which the bare relay's: {bare - base:.2f} ms (per round: "
            + " ".join(f"{x:.1f}" for x in round_overheads["bare relay"])
            + f"); the gateway's own code on top: {ours - bare:.2f} ms"
        )
    print(
        "With every process sharing the same cores, a saturated run's latency is its CPU per request times "
        "the requests queued per core, so the overhead grows with concurrency / cores x (gateway CPU - the "
        "client CPU it saves)."
    )
    print(f"face detection, one 640x480 noise frame (not in the figures above): {detect_ms:.1f} ms")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--relay-server"]:
        asyncio.run(_relay_server(int(sys.argv[2]), sys.argv[4:], float(sys.argv[3])))
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
