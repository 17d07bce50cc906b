"""`liveness bench`: latency percentiles and throughput of one test service or the gateway on loopback.

C workers (grpc.aio, one channel) send the same request back to back until the time or request budget is
spent; the first `--warmup` calls are not counted. `--baseline-cmd` then runs a baseline command in the same
invocation (after the load, so the two never compete for the CPU) and prints the ratio of our p50 to the
baseline's time. A baseline that prints `latency_ms=<number>` (or a JSON line with "latency_ms") is taken at
its word, so its interpreter start-up and model loading are not held against it; otherwise its wall time is.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

_REPORTED = re.compile(r"latency_ms\"?\s*[=:]\s*([0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load run measured; latencies are client-side round trips of successful calls, in ms."""

    requests: int
    ok: int
    errors: dict[str, int]
    statuses: dict[str, int]
    elapsed_s: float
    latency_ms: dict[str, float]
    server_ms: dict[str, float]
    concurrency: int

    @property
    def throughput_rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_rps": self.throughput_rps}


@dataclass(frozen=True, slots=True)
class BaselineResult:
    """Median time of a baseline command over several runs, and where the number came from."""

    command: str
    runs_ms: list[float] = field(default_factory=list)
    source: str = "wall time"

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.runs_ms))

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "runs_ms": self.runs_ms,
            "source": self.source,
            "median_ms": self.median_ms,
        }


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean/min/max of a list of milliseconds ({} when empty)."""
    if not values_ms:
        return {}
    arr = np.asarray(values_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


Call = Callable[[], Awaitable[tuple[str, float]]]
"""One request: returns (answer status name, server-reported ms); raises grpc.aio.AioRpcError on failure."""


async def run_load(
    call: Call, concurrency: int, duration_s: float, max_requests: int, warmup: int = 0
) -> LoadResult:
    """Send requests from `concurrency` workers until `duration_s` passes or `max_requests` were sent."""
    import grpc

    if concurrency < 1 or duration_s <= 0 or max_requests < 1 or warmup < 0:
        raise click.BadParameter("need concurrency >= 1, duration > 0, requests >= 1, warmup >= 0")
    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    server: list[float] = []
    errors: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    sent = 0
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            sent += 1
            t0 = time.perf_counter()
            try:
                status, server_ms = await call()
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                continue
            latencies.append((time.perf_counter() - t0) * 1000.0)
            server.append(server_ms)
            statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return LoadResult(
        requests=sent,
        ok=len(latencies),
        errors=dict(errors),
        statuses=dict(statuses),
        elapsed_s=elapsed,
        latency_ms=percentiles(latencies),
        server_ms=percentiles(server),
        concurrency=concurrency,
    )


def run_baseline(command: str, runs: int, timeout_s: float) -> BaselineResult:
    """Run `command` (a shell command line) `runs` times in a row; each run's time is reported or wall."""
    if runs < 1:
        raise click.BadParameter("--baseline-runs must be >= 1")
    times: list[float] = []
    sources: set[str] = set()
    for _ in range(runs):
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                shlex.split(command), capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise click.ClickException(f"baseline command failed: {exc}") from None
        wall_ms = (time.perf_counter() - t0) * 1000.0
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-800:]
            raise click.ClickException(f"baseline command exited with {done.returncode}:\n{tail}")
        reported = _REPORTED.findall(done.stdout)
        if reported:
            times.append(float(reported[-1]))
            sources.add("reported latency_ms")
        else:
            times.append(wall_ms)
            sources.add("wall time")
    return BaselineResult(command=command, runs_ms=times, source=" + ".join(sorted(sources)))


def _build_media(media: Path, frames: int) -> Any:
    from liveness.client import media_from_path

    return media_from_path(media, frames=frames)


def _face_regions(media_msg: Any) -> list[Any]:
    """Find faces once here, as the gateway does, so a test is timed without its own face search."""
    from liveness.runtime.convert import decode_media, faces_to_proto
    from liveness.vision import face, track
    from liveness.vision.decode import DEFAULT_LIMITS

    media = decode_media(media_msg, DEFAULT_LIMITS)
    return faces_to_proto(track.track(media.frames) if media.is_clip else face.observe_media(media))


async def _bench(
    target: str,
    gateway: bool,
    media_msg: Any,
    faces: list[Any] | None,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    warmup: int,
    timeout_s: float,
) -> tuple[LoadResult, dict[str, str]]:
    from liveness.client import GatewayClient, TestClient
    from liveness.v1 import liveness_pb2 as pb

    if gateway:
        async with GatewayClient(target) as gw:

            async def evaluate() -> tuple[str, float]:
                reply = await gw.evaluate(media_msg, timeout_s=timeout_s)
                return pb.Decision.Name(reply.decision).removeprefix("DECISION_").lower(), float(
                    reply.elapsed_ms
                )

            result = await run_load(evaluate, concurrency, duration_s, max_requests, warmup)
            return result, {"rpc": "Liveness.Evaluate", "name": "gateway"}
    async with TestClient(target) as client:
        info = await client.describe(timeout_s=timeout_s)

        async def check() -> tuple[str, float]:
            reply = await client.check(media_msg, faces=faces, timeout_s=timeout_s)
            return pb.Status.Name(reply.status).removeprefix("STATUS_").lower(), float(reply.latency_ms)

        result = await run_load(check, concurrency, duration_s, max_requests, warmup)
        return result, {"rpc": "LivenessTest.Check", "name": info.name, "version": info.version}


def _fmt(stats: dict[str, float]) -> str:
    if not stats:
        return "n/a"
    return "  ".join(f"{k} {stats[k]:.1f}" for k in ("p50", "p95", "p99", "mean", "max"))


def render_table(report: dict[str, Any]) -> str:
    """The human-readable summary printed by `liveness bench`."""
    load = report["load"]
    service = report["service"]
    media = report["media"]
    lines = [
        f"target       {report['target']}  ({service['rpc']}, {service['name']})",
        f"media        {media['name']} ({media['kind']}, {media['frames']} frame(s), "
        f"faces sent: {media['faces_sent']})",
        f"load         concurrency {load['concurrency']}, limits {report['limits']['duration_s']:g} s / "
        f"{report['limits']['requests']} requests, warm-up {report['limits']['warmup']}",
        f"requests     {load['ok']} ok, {sum(load['errors'].values())} failed {load['errors'] or ''} "
        f"in {load['elapsed_s']:.2f} s -> {load['throughput_rps']:.2f} req/s",
        f"answers      {load['statuses']}",
        f"latency ms   {_fmt(load['latency_ms'])}",
        f"server ms    {_fmt(load['server_ms'])}",
    ]
    baseline = report.get("baseline")
    if baseline:
        lines.append(
            f"baseline     median {baseline['median_ms']:.1f} ms over {len(baseline['runs_ms'])} run(s) "
            f"({baseline['source']}): {baseline['command']}"
        )
        ratio = report.get("ratio_p50_to_baseline")
        if ratio is not None:
            speed = f"{1 / ratio:.1f}x faster" if ratio < 1 else f"{ratio:.1f}x slower"
            lines.append(f"ratio        our p50 / baseline = {ratio:.3f} ({speed})")
    return "\n".join(lines)


@click.command()
@click.option(
    "--target", required=True, help="HOST:PORT of a LivenessTest service (or the gateway with --gateway)."
)
@click.option("--gateway", is_flag=True, help="The target is the gateway: call Liveness.Evaluate.")
@click.option(
    "--media",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Image or video file sent in every request.",
)
@click.option(
    "--frames", type=int, default=16, show_default=True, help="Frames sampled when --media is a video."
)
@click.option("--concurrency", "-c", type=int, default=1, show_default=True, help="Concurrent workers.")
@click.option("--duration", "duration_s", type=float, default=10.0, show_default=True, help="Time budget, s.")
@click.option("--requests", "max_requests", type=int, default=1000, show_default=True, help="Request budget.")
@click.option("--warmup", type=int, default=3, show_default=True, help="Uncounted calls before the load.")
@click.option(
    "--timeout", "timeout_s", type=float, default=30.0, show_default=True, help="Deadline per call, s."
)
@click.option(
    "--faces/--no-faces",
    default=False,
    show_default=True,
    help="Detect faces here once and send them with each Check (as the gateway does).",
)
@click.option("--baseline-cmd", default=None, help="Command timed after the load; our p50 is compared to it.")
@click.option(
    "--baseline-runs", type=int, default=3, show_default=True, help="Runs of the baseline (median)."
)
@click.option("--baseline-timeout", type=float, default=600.0, show_default=True, help="Per baseline run, s.")
@click.option("--json", "json_out", default=None, help="Write the JSON report to this file ('-': stdout).")
def cli(
    target: str,
    gateway: bool,
    media: Path,
    frames: int,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    warmup: int,
    timeout_s: float,
    faces: bool,
    baseline_cmd: str | None,
    baseline_runs: int,
    baseline_timeout: float,
    json_out: str | None,
) -> None:
    """Latency p50/p95/p99 and throughput of a test service or the gateway, bounded in time and count."""
    import grpc

    from liveness.data.samples import kind_of
    from liveness.errors import InvalidInput

    if gateway and faces:
        raise click.UsageError("--faces is for a test service; the gateway detects faces itself")
    try:
        media_msg = _build_media(media, frames)
        regions = _face_regions(media_msg) if faces else None
    except InvalidInput as exc:
        raise click.UsageError(f"--media: {exc}") from None
    try:
        load, service = asyncio.run(
            _bench(
                target, gateway, media_msg, regions, concurrency, duration_s, max_requests, warmup, timeout_s
            )
        )
    except grpc.aio.AioRpcError as exc:
        raise click.ClickException(f"{target}: {exc.code().name}: {exc.details()}") from None
    kind = kind_of(media)
    report: dict[str, Any] = {
        "target": target,
        "service": service,
        "media": {
            "name": media.name,
            "kind": kind,
            "frames": len(media_msg.clip.frames) if media_msg.WhichOneof("kind") == "clip" else 1,
            "faces_sent": bool(regions),
        },
        "limits": {"duration_s": duration_s, "requests": max_requests, "warmup": warmup},
        "load": load.to_dict(),
    }
    if baseline_cmd:
        baseline = run_baseline(baseline_cmd, baseline_runs, baseline_timeout)
        report["baseline"] = baseline.to_dict()
        p50 = load.latency_ms.get("p50")
        report["ratio_p50_to_baseline"] = p50 / baseline.median_ms if p50 and baseline.median_ms > 0 else None
    text = json.dumps(report, indent=2)
    if json_out == "-":
        click.echo(text)
    else:
        click.echo(render_table(report))
        if json_out:
            Path(json_out).write_text(text + "\n")
    if load.ok == 0:
        raise click.ClickException("no request succeeded")
