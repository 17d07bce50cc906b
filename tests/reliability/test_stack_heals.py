"""`liveness up` heals: a test process SIGKILLed under load is restarted with a log line, the gateway keeps
answering (degraded) meanwhile and whole again within seconds of the restart; only SIGINT stops the stack.

Runs the real iqa and cnn2d (their models are committed) on free loopback ports, with two clients calling
Evaluate back to back for about 12 s in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml

from liveness.client import GatewayClient, image_media
from liveness.stack import free_port, restart_delay, wait_serving
from liveness.v1 import liveness_pb2 as pb
from tests.conftest import REPO

TESTS = ("iqa", "cnn2d")


class Output:
    """Everything the process writes, collected by a thread; `wait_for` a regular expression."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._stdout = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in iter(self._stdout.readline, b""):
            with self._lock:
                self.text += line.decode(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = re.search(pattern, self.text)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout_s} s: {self.text[-3000:]}")


@dataclass(frozen=True, slots=True)
class Answer:
    sent_s: float
    latency_s: float
    code: str
    degraded: bool = False
    iqa: int = pb.STATUS_UNSPECIFIED


async def test_killed_test_is_restarted_while_the_gateway_answers_degraded(
    tmp_path: Path, astronaut_jpeg: bytes
) -> None:
    for name in TESTS:
        if not any((REPO / "services" / name / "models").glob(f"{name}.*")):
            pytest.skip(f"services/{name}/models has no model")
    ports = {name: free_port() for name in TESTS}
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump({"tests": {n: {"address": f"127.0.0.1:{p}", "weight": 1.0} for n, p in ports.items()}})
    )
    gateway_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveness", "up", "--port", str(gateway_port), "--config", str(config)],
        env={**os.environ, "LIVENESS_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a failed run kills the children too (below)
    )
    out = Output(proc)
    try:
        ready = out.wait_for(r"gateway .*\(pid \d+; ready; Ctrl-C to stop\)", 120)
        assert ready
        old_pid = int(out.wait_for(r"iqa\s+127\.0\.0\.1:\d+\s+\(pid (\d+)\)", 1).group(1))
        answers: list[Answer] = []
        t0 = time.monotonic()
        stop = False

        async def worker() -> None:
            async with GatewayClient(f"127.0.0.1:{gateway_port}") as client:
                while not stop:
                    sent = time.monotonic() - t0
                    try:
                        reply = await client.evaluate(image_media(astronaut_jpeg), timeout_s=5)
                    except grpc.aio.AioRpcError as exc:
                        answers.append(Answer(sent, time.monotonic() - t0 - sent, exc.code().name))
                        continue
                    (iqa,) = [t.result.status for t in reply.tests if t.result.test == "iqa"]
                    answers.append(Answer(sent, time.monotonic() - t0 - sent, "OK", reply.degraded, iqa))

        workers = [asyncio.create_task(worker()) for _ in range(2)]
        await asyncio.sleep(1.5)
        kill_s = time.monotonic() - t0
        os.kill(old_pid, signal.SIGKILL)
        line = await asyncio.to_thread(
            out.wait_for, r"iqa killed by signal 9 after [\d.]+ s; restarting in 0\.5 s \(restart 1", 10
        )
        assert line
        new_pid = int((await asyncio.to_thread(out.wait_for, r"iqa restarted \(pid (\d+)\)", 10)).group(1))
        restarted_s = time.monotonic() - t0  # the new iqa was just spawned: it cannot answer before this
        assert new_pid != old_pid
        await asyncio.to_thread(wait_serving, f"127.0.0.1:{ports['iqa']}", 60)
        up_s = time.monotonic() - t0
        await asyncio.sleep(4.0)
        stop = True
        await asyncio.gather(*workers)
        end_s = time.monotonic() - t0

        assert all(a.code == "OK" for a in answers), [a for a in answers if a.code != "OK"][:3]
        before = [a for a in answers if a.sent_s + a.latency_s < kill_s]
        assert before and not any(a.degraded for a in before)
        down = [a for a in answers if a.sent_s > kill_s + 0.1 and a.sent_s + a.latency_s < restarted_s]
        could_not_answer = (pb.STATUS_UNAVAILABLE, pb.STATUS_TIMEOUT)
        assert down and all(a.degraded and a.iqa in could_not_answer for a in down), down[:3]
        after = [a for a in answers if a.sent_s >= up_s]
        last_bad = max((a.sent_s for a in after if a.degraded), default=up_s)
        print(
            f"iqa down {up_s - kill_s:.2f} s (kill to SERVING after restart), {len(down)} degraded answers "
            f"meanwhile; whole again {last_bad - up_s:.2f} s after SERVING"
        )
        assert last_bad - up_s < 3.0  # the gateway's breaker probes at least every 2 s
        assert [a for a in after if a.sent_s > last_bad and a.sent_s < end_s], "no whole answers at the end"
        assert proc.poll() is None, "the stack stopped"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, out.text[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            # Children left by a killed `liveness up` would keep its stdout open and the close below waiting.
            os.killpg(proc.pid, signal.SIGKILL)
        assert proc.stdout is not None
        proc.stdout.close()
    for address in (f"127.0.0.1:{ports['iqa']}", f"127.0.0.1:{gateway_port}"):  # SIGINT stopped every child
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=1)


def test_restart_backoff_doubles_up_to_ten_seconds() -> None:
    assert [restart_delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
