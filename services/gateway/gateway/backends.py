"""The gateway's test services: one long-lived channel each, its Describe answer cached, a circuit breaker.

A test's Describe answer (what it accepts, whether it needs faces) is kept for `describe_ttl_s` and asked
again when stale, before the next request is routed; when a refresh fails the last known answer stays, so a
restarting test does not change routing. A test never described yet is routed as UNAVAILABLE. Every call to a
test, Describe or Check, goes through its breaker (gateway.breaker): after repeated timeouts or unreachable
calls it is skipped at once, then probed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import grpc

from gateway.breaker import Breaker, BreakerSettings
from gateway.config import Endpoint
from gateway.routing import Candidate
from liveness.client import open_channel
from liveness.runtime import convert
from liveness.types import Status, TestInfo
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc

DESCRIBE_TIMEOUT_S = 0.5

# The gRPC codes that say the test did not answer in time or could not be reached; they count against its
# breaker. Any other code is the test's own error (ERROR), which says it is up.
RPC_STATUS = {
    grpc.StatusCode.DEADLINE_EXCEEDED: Status.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: Status.UNAVAILABLE,
}


class Backend:
    """A long-lived channel to one test, with its Describe answer cached for `ttl_s` and a circuit breaker
    (gateway.breaker) that every call to it goes through."""

    def __init__(
        self,
        endpoint: Endpoint,
        ttl_s: float,
        credentials: grpc.ChannelCredentials | None = None,
        breaker: BreakerSettings | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._channel = open_channel(endpoint.address, credentials)
        self.stub = pb_grpc.LivenessTestStub(self._channel)
        self._ttl_s = ttl_s
        self.info: TestInfo | None = None
        self._info_at = 0.0
        self.last_error = "not described yet"
        self.breaker = Breaker(breaker or BreakerSettings())

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def stale(self) -> bool:
        return self.info is None or time.monotonic() - self._info_at > self._ttl_s

    @property
    def candidate(self) -> Candidate:
        """What routing needs to know of this test now."""
        return Candidate(self.endpoint.name, self.info, self.last_error)

    async def refresh(self, timeout_s: float) -> TestInfo | None:
        """Describe the test; on failure keep the last known info (a restart does not change routing)."""
        if not self.breaker.allow():
            return self.info
        try:
            msg = await self.stub.Describe(pb.DescribeRequest(), timeout=max(timeout_s, 0.001))
        except grpc.aio.AioRpcError as exc:
            self.last_error = f"{exc.code().name.lower()}: {exc.details()}"
            self.breaker.record(exc.code() not in RPC_STATUS, self.last_error)
            return self.info
        self.breaker.record(True)
        info = convert.info_from_proto(msg)
        if info.name != self.endpoint.name:
            self.last_error = f"answers as test {info.name!r}"
            return self.info
        self.info, self._info_at = info, time.monotonic()
        return info

    async def close(self) -> None:
        await self._channel.close()


def open_backends(
    endpoints: Sequence[Endpoint],
    ttl_s: float,
    credentials: grpc.ChannelCredentials | None = None,
    breaker: BreakerSettings | None = None,
) -> list[Backend]:
    """One backend per configured test, in the config's order (the order of the answer's tests)."""
    return [Backend(ep, ttl_s, credentials, breaker) for ep in endpoints]


async def refresh_stale(backends: Sequence[Backend], timeout_s: float) -> None:
    """Describe, concurrently, every backend whose answer is missing or older than its TTL."""
    stale = [b for b in backends if b.stale]
    if stale:
        await asyncio.gather(*(b.refresh(timeout_s) for b in stale))
