"""Runtime behaviour around the RPCs: metrics endpoint, settings validation, signals and shutdown."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from liveness.client import TestClient, image_media
from liveness.runtime.config import ServerSettings, from_env_fields
from liveness.runtime.testing import serve_model
from liveness.stack import free_port, wait_serving
from tests.doubles import DoubleModel


async def test_metrics_endpoint_counts_requests_by_method_and_status(astronaut_jpeg: bytes) -> None:
    metrics_port = free_port()
    settings = ServerSettings(port=0, grace_s=0, metrics_port=metrics_port)
    async with serve_model(DoubleModel(), settings) as address, TestClient(address) as client:
        await client.check(image_media(astronaut_jpeg))
        with pytest.raises(grpc.aio.AioRpcError):
            await client.check(image_media(b"junk"))
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    ok = (
        'rpc_server_requests_total{rpc_grpc_status_code="OK",rpc_method="Check",'
        'rpc_service="liveness.v1.LivenessTest"}'
    )
    bad = 'rpc_server_errors_total{rpc_grpc_status_code="INVALID_ARGUMENT",rpc_method="Check"'
    assert ok in body and bad in body
    assert "rpc_server_duration_seconds_bucket" in body


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LIVENESS_PORT": "eighty"}, "LIVENESS_PORT='eighty' is not a valid int"),
        ({"LIVENESS_PORT": "70000"}, "ports must be in 0..65535"),
        ({"LIVENESS_WORKERS": "0"}, "must be positive"),
        ({"LIVENESS_GRACE_S": "-1"}, "grace_s must be >= 0"),
        ({"LIVENESS_MAX_FRAMES": "0"}, "media limits must be positive"),
    ],
)
def test_bad_settings_fail_at_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSettings.from_env(env)


def test_settings_from_env() -> None:
    env = {"LIVENESS_PORT": "6000", "LIVENESS_GRACE_S": "2.5", "LIVENESS_MAX_FRAMES": "8"}
    s = ServerSettings.from_env(env)
    assert s.port == 6000 and s.grace_s == 2.5 and s.limits.max_frames == 8


def _start(
    args: list[str], env: dict[str, str], capture: bool, sigint_ignored: bool = False
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "liveness", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout_s: float) -> bytes:
    """The process's output up to `marker`; fails after `timeout_s` or when the process exits first."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} within {timeout_s} s: {seen[-2000:]!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:  # raw reads: a buffered readline could hold the marker where select cannot see it
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"exited (code {proc.poll()}) before {marker!r}: {seen[-2000:]!r}"
            seen += chunk
    return seen


def test_sigterm_drains_and_exits_cleanly() -> None:
    port = free_port()
    env = {"LIVENESS_PORT": str(port), "GATEWAY_TESTS": "", "LIVENESS_GRACE_S": "1"}
    proc = _start(["serve", "gateway"], env, capture=True)
    try:
        wait_serving(f"127.0.0.1:{port}", 60, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert '"msg":"shutting down"' in out.decode() and '"msg":"stopped"' in out.decode()


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["foreground", "background-job"])
def test_up_runs_the_stack_and_ctrl_c_stops_every_child(tmp_path: Path, sigint_ignored: bool) -> None:
    """Also when started as a background job of a non-interactive shell, which inherits SIGINT ignored
    (CI started that way once saw `liveness up` ignore the SIGINT and hang)."""
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text("tests: {}\n")
    proc = _start(
        ["up", "--port", str(port), "--config", str(config)], {}, capture=True, sigint_ignored=sigint_ignored
    )
    try:
        wait_serving(f"127.0.0.1:{port}", 90, proc)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # Ctrl-C once `up` says the stack is ready (its own health poll can lag the one above).
        _read_until(proc, b"Ctrl-C to stop", 30)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()  # reaped here, so a failure does not resurface as a ResourceWarning in a later test
    # Nothing listens any more: every child is gone.
    deadline = time.monotonic() + 5
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        while time.monotonic() < deadline:
            try:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=0.5)
            except grpc.RpcError:
                return
            time.sleep(0.2)
    pytest.fail("gateway still answering after liveness up was interrupted")


@dataclass(frozen=True, slots=True)
class _Fields:
    path: Path = Path("default.onnx")
    count: int = 2
    ratio: float = 0.5
    flag: bool = True
    angle: float | None = None
    name: str = "x"


def test_from_env_fields_casts_each_field_by_its_type() -> None:
    env = {"T_PATH": "m.onnx", "T_COUNT": "7", "T_RATIO": "0.25", "T_FLAG": "no", "T_ANGLE": "12.5"}
    assert _Fields(**from_env_fields(_Fields, env, "T_")) == _Fields(Path("m.onnx"), 7, 0.25, False, 12.5)
    assert _Fields(**from_env_fields(_Fields, {"T_ANGLE": "", "OTHER": "1"}, "T_")) == _Fields()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"T_COUNT": "two"}, "T_COUNT='two' is not a valid int"),
        ({"T_ANGLE": "steep"}, "T_ANGLE='steep' is not a valid float"),
        ({"T_COUNT": "0"}, r"T_COUNT=0 is outside \[1, inf\]"),
        ({"T_RATIO": "1.5"}, r"T_RATIO=1.5 is outside \[0.0, 1.0\]"),
    ],
)
def test_from_env_fields_names_the_bad_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_env_fields(_Fields, env, "T_", {"count": (1, None), "ratio": (0.0, 1.0)})


def test_from_env_fields_refuses_bounds_of_unknown_fields() -> None:
    with pytest.raises(ValueError, match="threads"):
        from_env_fields(_Fields, {}, "T_", {"threads": (1, None)})
