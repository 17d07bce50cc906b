"""A real Redis for the tests: Debian's `redis-server` on a free loopback port, no persistence, stopped after.

Outside CI a missing `redis-server` skips the tests that need it, with the reason; in CI (CI=true) it fails
them: .ci/run installs the package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from liveness.stack import free_port

INSTALL = "apt-get install -y redis-server"


def redis_server_binary() -> str:
    """The path of redis-server, or skip (fail in CI) saying how to install it."""
    path = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if Path(p).is_file()), None
    )
    if path is None:
        reason = f"redis-server not installed: the shared-state tests need a real Redis ({INSTALL})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


class RedisServer:
    """One redis-server process on 127.0.0.1:`port`; kill/stop/cont/start to inject faults."""

    def __init__(self, binary: str, folder: Path, port: int | None = None) -> None:
        self.binary = binary
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        with redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        ) as client:
            while True:
                if self.proc.poll() is not None:
                    log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server exited with code {self.proc.returncode}: {log}")
                try:
                    if client.ping():
                        return self
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"redis-server on port {self.port} did not answer PING in {timeout_s} s"
                    )
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2.0)

    def kill(self) -> None:
        """SIGKILL: connections reset, every key lost (no persistence)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers (a slow or frozen Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
