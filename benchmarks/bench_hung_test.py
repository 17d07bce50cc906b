"""One test hung (SIGSTOP): Evaluate latency through a gateway with its circuit breaker and one without.

    python benchmarks/bench_hung_test.py [--requests 32] [--rounds 2] [--concurrency 4] [--budget-ms 2000]

Two test doubles (tests/reliability/double_service.py, iqa and cnn2d) run as their own processes; cnn2d is
stopped with SIGSTOP, as a test stuck in inference or a frozen node looks to the gateway (the socket stays
open, nothing answers). Two gateway processes call them, the same config but for `breaker:`: the default
(3 failures in a row open the circuit for 0.5 s, doubling to 2 s) and `failures: 0` (off: the baseline,
what the gateway did before). Both are loaded in alternating rounds with the same image, and the figures
printed side by side: p50/p95 of every answer after each gateway's first `--skip` requests (the calls that
run into the hang before the circuit opens), how cnn2d's part of the answers came back (TIMEOUT: the answer
waited out the budget), and the ratio of the p50s. Goal: p50 <= 300 ms with the breaker (the issue measured
1,953 ms with a 2,000 ms budget).

The defaults keep the hang under 20 s: about 35 s after the gateway's connection to the stopped process was
made, its keepalive ping (30 s, 5 s timeout) goes unanswered, gRPC drops the connection and from then on even
the gateway without a breaker gets UNAVAILABLE at once. What the breaker changes is the time before that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveness.client import GatewayClient, image_media  # noqa: E402
from liveness.stack import free_port, wait_serving  # noqa: E402
from liveness.v1 import liveness_pb2 as pb  # noqa: E402
from tests.conftest import encode  # noqa: E402


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env={**os.environ, **env, "LIVENESS_HOST": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def load(
    client: GatewayClient, media: pb.Media, concurrency: int, requests: int
) -> list[tuple[float, str]]:
    """(latency ms, the hung test's status in the answer) per request, in the order they came back."""
    out: list[tuple[float, str]] = []
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            reply = await client.evaluate(media, timeout_s=30.0)
            (status,) = [pb.Status.Name(t.result.status) for t in reply.tests if t.result.test == "cnn2d"]
            out.append(((time.perf_counter() - start) * 1000.0, status.removeprefix("STATUS_")))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def main(requests: int, rounds: int, concurrency: int, budget_ms: float, skip: int) -> None:
    media = image_media(encode(np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)))
    ports = {"iqa": free_port(), "cnn2d": free_port()}
    procs = {
        n: _spawn(["tests.reliability.double_service", n], {"LIVENESS_PORT": str(p)})
        for n, p in ports.items()
    }
    tests = "".join(f"  {n}: {{address: '127.0.0.1:{p}', weight: 1}}\n" for n, p in ports.items())
    folder = Path(tempfile.mkdtemp())
    paths = {"breaker off (baseline)": "breaker: {failures: 0}\n", "breaker on (default)": ""}
    gateways: dict[str, str] = {}
    try:
        for label, extra in paths.items():
            config = folder / f"{len(gateways)}.yaml"
            config.write_text(f"budget_ms: {budget_ms}\n{extra}tests:\n{tests}")
            port = free_port()
            procs[label] = _spawn(
                ["liveness", "serve", "gateway"], {"GATEWAY_CONFIG": str(config), "LIVENESS_PORT": str(port)}
            )
            gateways[label] = f"127.0.0.1:{port}"
        for name, proc in procs.items():
            address = gateways.get(name) or f"127.0.0.1:{ports[name]}"
            wait_serving(address, 90, proc)
        clients = {label: GatewayClient(address) for label, address in gateways.items()}
        for client in clients.values():
            await client.__aenter__()
        for client in clients.values():
            await load(client, media, concurrency, 20)  # warm-up with every test answering
        procs["cnn2d"].send_signal(signal.SIGSTOP)
        results: dict[str, list[tuple[float, str]]] = {label: [] for label in clients}
        per_round = max(requests // rounds, 1)
        for r in range(rounds):
            for label, client in clients.items():
                results[label] += await load(client, media, concurrency, per_round)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
        for client in clients.values():
            await client.__aexit__(None, None, None)
    finally:
        if "cnn2d" in procs:
            procs["cnn2d"].send_signal(signal.SIGCONT)
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(10)

    print(
        f"\nOne of two tests hung (SIGSTOP), budget {budget_ms:.0f} ms, {concurrency} concurrent clients, "
        f"{rounds} alternating rounds; first {skip} answers of each gateway left out of p50/p95\n"
    )
    print("| gateway | answers | p50 ms | p95 ms | cnn2d's status in the answers |")
    print("|---|---|---|---|---|")
    p50s = {}
    for label, rows in results.items():
        kept = [ms for ms, _ in rows[skip:]]
        p50s[label] = float(np.percentile(kept, 50))
        statuses = Counter(status for _, status in rows)
        print(
            f"| {label} | {len(rows)} | {p50s[label]:.1f} | {np.percentile(kept, 95):.1f} | "
            f"{', '.join(f'{n} {s}' for s, n in statuses.most_common())} |"
        )
    base, new = p50s["breaker off (baseline)"], p50s["breaker on (default)"]
    print(
        f"\np50 ratio (baseline / breaker): {base / new:.1f}x; goal p50 <= 300 ms: "
        f"{'met' if new <= 300 else 'NOT met'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=32, help="per gateway, over all rounds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--budget-ms", type=float, default=2000.0)
    parser.add_argument("--skip", type=int, default=8, help="answers left out of p50/p95 (the first few)")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds, args.concurrency, args.budget_ms, args.skip))
