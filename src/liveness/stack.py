"""The embedded default deployment: the gateway and every test as child processes on loopback ports.

Used by `liveness up`, by `liveness check` without --gateway, and by `liveness eval`. The tests are those of
the gateway's config: with the packaged default, every registered test (liveness.registry), each on its
declared port when the ports are fixed. `liveness up` runs `LocalStack.supervise()`: a child that exits or
crashes is started again on its port, after a backoff that doubles from 0.5 s to 10 s while it keeps failing
(reset once it has run 30 s), with a log line each time; meanwhile the gateway answers degraded (its circuit
breaker skips the missing test). Only Ctrl-C or SIGTERM stops the stack.

The children share one machine: each test runs as many model threads as its share of the cores
(workers_per_test; 1 on the 2-core dev machine), unless LIVENESS_WORKERS says otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import config as gateway_config

HOST = "127.0.0.1"
RESTART_MIN_S = 0.5  # the first restart's delay; it doubles while the child keeps failing
RESTART_MAX_S = 10.0
STABLE_S = 30.0  # a child that ran this long before exiting starts again after RESTART_MIN_S


def warm_up_index(videos: Sequence[bool]) -> int:
    """Which input (by whether each is a video) a stack started for one command is sent first, with its
    answer thrown away: the first video (a clip is the heaviest request), else the first input.

    A freshly started process pays for the memory it touches for the first time, which can push a large clip
    past the gateway's budget: replay-dev's 1080p live clip as the first request of a fresh stack on the
    2-core dev machine took 1,959 and 1,968 ms with every face test answering TIMEOUT (UNCERTAIN), and
    1,399 ms in a third stack; sent again, 1,126-1,454 ms, decided every time. After a 640x480 clip first it
    still took 1,961 ms (degraded), then 1,736 ms.
    """
    return next((i for i, video in enumerate(videos) if video), 0)


WORKERS_VAR = "LIVENESS_WORKERS"


def workers_per_test(cores: int, tests: int) -> int:
    """Model threads for each test process of a stack on `cores` cores: the cores shared among the tests,
    at least 1.

    The stack's processes share one machine, and a test's model code holds the GIL for much of a request, so
    a second worker thread in the same process mostly waits for it and adds thread switches. On the 2-core
    dev machine, five tests with 1 worker each against 2 (`benchmarks/bench_clips.py --baseline HEAD
    --scenarios clip24,clips4,image8`, alternating rounds, 2026-12-07 15:14-15:18): images at c = 8 33.0 ->
    35.4 req/s and 55 -> 52 ms of CPU a decision; clips at c = 4 3.1 -> 3.3 req/s, p99 1,488 -> 1,477 ms,
    583 -> 556 ms of CPU a clip; a clip at c = 1 p50 359 -> 386 ms (8 clips a side, within run-to-run
    noise). A deployment (deploy/k8s) gives each test its own pod and sets LIVENESS_WORKERS itself.
    """
    return max(1, cores // max(tests, 1))


def restart_delay(failures: int) -> float:
    """Seconds to wait before the `failures`-th restart in a row (1-based): 0.5, 1, 2, ... up to 10."""
    return min(RESTART_MIN_S * 2.0 ** max(failures - 1, 0), RESTART_MAX_S)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt, so a supervisor's SIGTERM and a user's Ctrl-C both stop
    `liveness up` / `liveness web` and the children they started.

    SIGINT is set explicitly: a process that a non-interactive shell starts in the background inherits it as
    ignored, and Python then leaves it ignored (such a `liveness up` could not be stopped with SIGINT).
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)


def wait_serving(address: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll grpc.health.v1 until the server answers SERVING; fail early if its process exits."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{address}: process exited with code {proc.returncode} before serving")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{address} did not report SERVING within {timeout_s:.0f} s")


class LocalStack:
    """Start tests then the gateway; stop them all (SIGTERM, then SIGKILL after the grace period)."""

    def __init__(
        self,
        tests: list[str] | None = None,
        *,
        config_path: Path | None = None,
        fixed_ports: bool = False,
        gateway_port: int = 50051,
        quiet: bool = True,
        start_timeout_s: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self._config = gateway_config.load(config_path)
        known = [t.name for t in self._config.tests]
        self.tests = list(tests) if tests is not None else known
        unknown = set(self.tests) - set(known)
        if unknown:
            raise ValueError(f"tests {sorted(unknown)} are not in the gateway configuration ({known})")
        self._config_path = config_path
        self._fixed = fixed_ports
        self._gateway_port = gateway_port
        self._quiet = quiet
        self._timeout_s = start_timeout_s
        self._env = env or {}
        self._procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes] | None]] = []
        self._specs: dict[str, tuple[int, dict[str, str]]] = {}  # name -> (port, extra env), for restarts
        self.addresses: dict[str, str] = {}
        self.gateway_address = ""

    def _test_env(self) -> dict[str, str]:
        """What a test child gets beyond the stack's environment: its share of the cores as model threads
        (workers_per_test), unless LIVENESS_WORKERS is set."""
        if WORKERS_VAR in os.environ or WORKERS_VAR in self._env:
            return {}
        return {WORKERS_VAR: str(workers_per_test(len(os.sched_getaffinity(0)), len(self.tests)))}

    def _spawn(self, name: str, port: int, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self._env, **extra_env, "LIVENESS_PORT": str(port), "LIVENESS_HOST": HOST}
        self._specs[name] = (port, extra_env)
        log = tempfile.TemporaryFile() if self._quiet else None
        proc = subprocess.Popen(
            [sys.executable, "-m", "liveness", "serve", name],
            env=env,
            stdout=log if log else None,
            stderr=subprocess.STDOUT if log else None,
        )
        self._procs.append((name, proc, log))
        return proc

    def _tail(self, name: str) -> str:
        for n, _, log in self._procs:
            if n == name and log is not None:
                log.seek(0)
                return log.read().decode(errors="replace")[-3000:]
        return ""

    def _serving(
        self, name: str, address: str, proc: subprocess.Popen[bytes], extra_env: dict[str, str]
    ) -> str:
        """Wait until `name` serves; its address. A child on a chosen free port that exits before serving
        is started again on another one (twice at most): between free_port() and the child's bind another
        process can take the port. Fixed ports are not moved."""
        what = name if name == "gateway" else f"test {name}"
        retries = 0
        while True:
            try:
                wait_serving(address, self._timeout_s, proc)
                return address
            except (RuntimeError, TimeoutError) as exc:
                if self._fixed or proc.poll() is None or retries == 2:
                    raise RuntimeError(f"{what} failed to start: {exc}\n{self._tail(name)}") from None
            retries += 1
            port = free_port()
            address = f"{HOST}:{port}"
            proc = self._respawn(name, port, extra_env)

    def _respawn(self, name: str, port: int, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start `name` again in its exited child's place (stop() ends the gateway first)."""
        index = next(i for i, (n, _, _) in enumerate(self._procs) if n == name)
        _, _, log = self._procs.pop(index)
        if log is not None:
            log.close()
        proc = self._spawn(name, port, extra_env)
        self._procs.insert(index, self._procs.pop())
        return proc

    def __enter__(self) -> LocalStack:
        try:
            started = []
            test_env = self._test_env()
            for name in self.tests:
                port = (
                    int(self._config.endpoint(name).address.rsplit(":", 1)[1]) if self._fixed else free_port()
                )
                self.addresses[name] = f"{HOST}:{port}"
                started.append((name, self._spawn(name, port, test_env)))
            for name, proc in started:
                self.addresses[name] = self._serving(name, self.addresses[name], proc, test_env)
            gw_env = {f"{n.upper()}_ADDR": a for n, a in self.addresses.items()}
            gw_env["GATEWAY_TESTS"] = ",".join(self.tests) if self.tests else ""
            if self._config_path:
                gw_env["GATEWAY_CONFIG"] = str(self._config_path)
            port = self._gateway_port if self._fixed else free_port()
            proc = self._spawn("gateway", port, gw_env)
            self.gateway_address = self._serving("gateway", f"{HOST}:{port}", proc, gw_env)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM every child (gateway first), wait for them, SIGKILL whatever is left."""
        for _, proc, _ in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for _, proc, log in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if log is not None:
                log.close()
        self._procs.clear()

    @property
    def pids(self) -> dict[str, int]:
        """Process id of each running child, by service name (benchmarks read their CPU time)."""
        return {name: proc.pid for name, proc, _ in self._procs if proc.poll() is None}

    def supervise(self, poll_s: float = 0.2) -> None:
        """Restart every child that exits, with backoff and a line on stderr, until interrupted (Ctrl-C or
        SIGTERM: see stop_on_signals); for `liveness up`."""
        failures: dict[str, int] = {}
        started = {name: time.monotonic() for name, _, _ in self._procs}
        due: dict[str, float] = {}  # name -> when to start it again
        while True:
            now = time.monotonic()
            for name, proc, _ in self._procs:
                code = proc.poll()
                if code is None or name in due:
                    continue
                ran_s = now - started[name]
                failures[name] = 1 if ran_s >= STABLE_S else failures.get(name, 0) + 1
                delay = restart_delay(failures[name])
                how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
                print(
                    f"{name} {how} after {ran_s:.1f} s; restarting in {delay:.1f} s "
                    f"(restart {failures[name]} in a row)",
                    file=sys.stderr,
                    flush=True,
                )
                due[name] = now + delay
            for name, when in list(due.items()):
                if now < when:
                    continue
                del due[name]
                port, extra_env = self._specs[name]
                proc = self._respawn(name, port, extra_env)
                started[name] = time.monotonic()
                print(f"{name} restarted (pid {proc.pid})", file=sys.stderr, flush=True)
            time.sleep(poll_s)
