"""The Node.js client (clients/node: @grpc/grpc-js + @grpc/proto-loader loading protos/) against a gateway.

clients/node/conformance.js runs end to end against a real gateway over loopback, with fast test doubles
behind it (the conformance is about the contract, not the models): health, reflection v1, Describe, an
image, a clip, CreateSession -> Evaluate -> replay refused, and the code of each kind of bad input.
`npm ci` installs the client's locked packages into clients/node/node_modules on first use. Without node
the test skips and says why; under CI (CI=true) it fails instead.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from liveness.npmtools import node
from liveness.runtime.config import ServerSettings
from liveness.stack import LocalStack
from tests.conftest import REPO
from tests.doubles import DoubleModel
from tests.npm import require_npm_packages
from tests.reliability.harness import serve_gateway

CLIENT = REPO / "clients" / "node"
TIMEOUT_S = 120.0


async def test_node_conformance_against_a_gateway() -> None:
    require_npm_packages(CLIENT)
    backends = [
        (DoubleModel("iqa", score=0.9, accepts_clip=False), 0.5),
        (DoubleModel("cnn2d", score=0.8, needs_face=True), 2.0),
        (DoubleModel("temporal", score=0.7, accepts_image=False, min_frames=4), 0.5),
    ]
    async with serve_gateway(backends, ServerSettings(port=0, grace_s=0)) as address:
        proc = await asyncio.create_subprocess_exec(
            node(),
            str(CLIENT / "conformance.js"),
            "--gateway",
            address,
            "--image",
            str(REPO / "samples" / "astronaut.jpg"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    checks = {line["check"]: line for line in lines if "check" in line}
    failed = {name: c["detail"] for name, c in checks.items() if not c["ok"]}
    assert proc.returncode == 0 and not failed, f"failed: {failed}\n{err.decode()[-2000:]}"
    assert len(checks) == 13, sorted(checks)
    assert lines[-1] == {"summary": True, "checks": 13, "failed": []}
    # The replay was refused by the gateway itself, and the short deadline answered as a deadline.
    assert "FAILED_PRECONDITION" in checks["session, then replay refused"]["detail"], checks
    assert checks["deadline shorter than the margin"]["detail"].startswith("DEADLINE_EXCEEDED")


@pytest.mark.slow
def test_node_conformance_against_the_real_local_stack() -> None:
    """The same script against `liveness up`'s stack: every real test behind the gateway (about 18 s to
    start on two busy cores, 4 s for the script)."""
    require_npm_packages(CLIENT)
    with LocalStack() as stack:
        done = subprocess.run(
            [node(), str(CLIENT / "conformance.js"), "--gateway", stack.gateway_address],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
