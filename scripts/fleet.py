"""A loopback fleet for the long runs: each test and the gateway as its own process, with RSS sampling.

Tests whose model artifact exists run as themselves (`python -m liveness serve <name>`); with `doubles`, a
missing one is stood in for by a DoubleModel process (tests/reliability/double_service.py), and the reports
say so. The gateway reads a generated config naming exactly the tests started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from liveness.stack import HOST, free_port, wait_serving  # noqa: E402
from tests.reliability.harness import TEST_NAMES, find_real_service, rss_bytes  # noqa: E402


@dataclass
class Member:
    """One running service process."""

    name: str
    kind: str  # "real", "double" or "gateway"
    address: str
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid


def plan_tests(names: list[str] | None, doubles: bool) -> dict[str, str]:
    """Which tests to start and as what: {name: "real" | "double"}; unavailable ones left out or doubled."""
    plan: dict[str, str] = {}
    for name in names or list(TEST_NAMES):
        service, why = find_real_service(name)
        if service is not None:
            plan[name] = "real"
        elif doubles:
            plan[name] = "double"
        else:
            print(f"skipping {name}: {why}", file=sys.stderr)
    return plan


class Fleet:
    """Start the planned tests, then the gateway over them; stop all on exit (SIGTERM, then SIGKILL)."""

    def __init__(
        self, plan: dict[str, str], env: dict[str, str] | None = None, start_timeout_s: float = 180.0
    ):
        self.plan = plan
        self._env = {**os.environ, **(env or {}), "LIVENESS_HOST": HOST}
        self._timeout_s = start_timeout_s
        self._tmp = tempfile.TemporaryDirectory(prefix="liveness-fleet-")
        self.members: list[Member] = []

    def _spawn(self, name: str, kind: str, extra_env: dict[str, str]) -> Member:
        port = free_port()
        command = [sys.executable, "-m", "liveness", "serve", name]
        if kind == "double":
            command = [sys.executable, "-m", "tests.reliability.double_service", name, "0.8"]
        log = open(Path(self._tmp.name) / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        env = {**self._env, **extra_env, "LIVENESS_PORT": str(port)}
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        member = Member(name, kind, f"{HOST}:{port}", proc)
        self.members.append(member)
        return member

    def log_tail(self, name: str) -> str:
        path = Path(self._tmp.name) / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def __enter__(self) -> Fleet:
        try:
            started = [self._spawn(name, kind, {}) for name, kind in self.plan.items()]
            for member in started:
                self._wait(member)
            config = {
                "version": "reliability",
                "budget_ms": 2000,
                "tests": {m.name: {"address": m.address, "weight": 1.0} for m in started},
            }
            config_path = Path(self._tmp.name) / "gateway.yaml"
            config_path.write_text(yaml.safe_dump(config))
            self._wait(self._spawn("gateway", "gateway", {"GATEWAY_CONFIG": str(config_path)}))
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, member: Member) -> None:
        try:
            wait_serving(member.address, self._timeout_s, member.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(
                f"{member.name} failed to start: {exc}\n{self.log_tail(member.name)}"
            ) from None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self, grace_s: float = 10.0) -> None:
        for member in reversed(self.members):
            if member.proc.poll() is None:
                member.proc.terminate()
        deadline = time.monotonic() + grace_s
        for member in self.members:
            try:
                member.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                member.proc.kill()
                member.proc.wait()
        self.members.clear()
        self._tmp.cleanup()

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    @property
    def tests(self) -> list[Member]:
        return [m for m in self.members if m.kind != "gateway"]


@dataclass
class RssSampler:
    """Samples every member's RSS (MiB) every `interval_s` in a background thread, with a phase label."""

    fleet: Fleet
    interval_s: float = 1.0
    samples: list[dict[str, object]] = field(default_factory=list)
    phase: str = ""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            row: dict[str, object] = {"t_s": round(time.monotonic() - self._t0, 2), "phase": self.phase}
            for member in self.fleet.members:
                try:
                    row[member.name] = round(rss_bytes(member.pid) / 2**20, 2)
                except (OSError, RuntimeError):
                    row[member.name] = None
            self.samples.append(row)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def series(self, name: str, phase: str | None = None) -> tuple[list[float], list[float]]:
        """(times s, RSS MiB) of one member, optionally within one phase."""
        rows = [r for r in self.samples if r.get(name) is not None and (phase is None or r["phase"] == phase)]
        return [float(r["t_s"]) for r in rows], [float(r[name]) for r in rows]  # type: ignore[arg-type]


def bench(
    address: str,
    media: Path,
    concurrency: int,
    duration_s: float,
    out_json: Path,
    *,
    gateway: bool = False,
    faces: bool = False,
    timeout_s: float = 30.0,
) -> subprocess.Popen[bytes]:
    """Start `liveness bench` (the data toolkit's load generator) as a child process; returns it running."""
    command = [
        sys.executable,
        "-m",
        "liveness",
        "bench",
        "--target",
        address,
        "--media",
        str(media),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration_s),
        "--requests",
        str(10**9),
        "--warmup",
        "3",
        "--timeout",
        str(timeout_s),
        "--json",
        str(out_json),
    ]
    if gateway:
        command.append("--gateway")
    if faces:
        command.append("--faces")
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def warm_up(fleet: Fleet, media: list[Path], timeout_s: float = 120.0) -> None:
    """One Evaluate per media file with a generous deadline, so first-call costs (Describe, lazy model and
    detector set-up) are paid before anything is measured; `liveness bench` aborts on a failed warm-up."""
    import grpc

    from liveness.client import channel_options, media_from_path
    from liveness.v1 import liveness_pb2 as pb
    from liveness.v1 import liveness_pb2_grpc as pb_grpc

    address = fleet.member("gateway").address
    with grpc.insecure_channel(address, options=channel_options()) as channel:
        stub = pb_grpc.LivenessStub(channel)
        for path in media:
            stub.Evaluate(pb.EvaluateRequest(media=media_from_path(path)), timeout=timeout_s)


def slope_mib_per_min(times_s: list[float], rss_mib: list[float]) -> float:
    """Least-squares slope of RSS over time, MiB per minute (0 with fewer than 3 samples)."""
    import numpy as np

    if len(times_s) < 3:
        return 0.0
    return float(np.polyfit(np.asarray(times_s) / 60.0, np.asarray(rss_mib), 1)[0])
