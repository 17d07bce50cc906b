"""Two real gateway processes sharing one real Redis (GATEWAY_REDIS_URL): sessions and rate limits hold
across replicas, and a Redis outage fails session calls closed while the rest is still judged.

The replicas call one test double served here; the config has no flash colours (flash_steps: 0), so a small
clip redeems a session without face detection. Each test uses its own API key, so rate buckets don't mix.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import yaml

from liveness.client import GatewayClient, clip_media, image_media
from liveness.runtime.testing import serve_model
from liveness.security import hash_api_key
from liveness.stack import free_port, wait_serving
from liveness.v1 import liveness_pb2 as pb
from tests.conftest import REPO, encode
from tests.doubles import DoubleModel
from tests.redis_server import RedisServer, redis_server_binary
from tests.reliability.harness import ThreadedServer

KEYS = {name: f"key-{name}-{'x' * 24}" for name in ("flow", "race", "rate", "outage")}
PER_S, BURST = 10.0, 60
SESSION_KEY = "ab" * 32


@dataclass
class Replicas:
    redis: RedisServer
    addresses: tuple[str, str]
    procs: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
    logs: Path

    def client(self, i: int, key: str) -> GatewayClient:
        return GatewayClient(self.addresses[i], api_key=KEYS[key])


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    binary = redis_server_binary()
    folder = tmp_path_factory.mktemp("shared-state")
    redis = RedisServer(binary, folder).start()
    double = ThreadedServer(lambda: serve_model(DoubleModel("iqa", score=0.9)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with double:
            config = folder / "gateway.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "budget_ms": 2000,
                        "tests": {"iqa": {"address": double.address, "weight": 1.0}},
                        "sessions": {"flash_steps": 0},
                        "security": {
                            "api_keys": {name: hash_api_key(key) for name, key in KEYS.items()},
                            "rate_limit": {"per_s": PER_S, "burst": BURST},
                        },
                    }
                )
            )
            ports = (free_port(), free_port())
            for i, port in enumerate(ports):
                env = {
                    **os.environ,
                    "LIVENESS_HOST": "127.0.0.1",
                    "LIVENESS_PORT": str(port),
                    "LIVENESS_GRACE_S": "0",
                    "GATEWAY_CONFIG": str(config),
                    "GATEWAY_SESSION_KEY": SESSION_KEY,
                    "GATEWAY_REDIS_URL": redis.url,
                }
                with (folder / f"gateway-{i}.log").open("wb") as log:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "gateway"], cwd=REPO, env=env, stdout=log, stderr=log
                        )
                    )
            addresses = (f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}")
            for address, proc in zip(addresses, procs, strict=True):
                wait_serving(address, 90, proc)
            yield Replicas(redis, addresses, (procs[0], procs[1]), folder)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        redis.close()


def small_clip() -> pb.Media:
    rng = np.random.default_rng(0)
    return clip_media(
        [(encode(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)), 125 * i) for i in range(4)]
    )


async def test_session_made_on_one_replica_is_redeemed_on_the_other_once(replicas: Replicas) -> None:
    async with replicas.client(0, "flow") as a, replicas.client(1, "flow") as b:
        for maker, redeemer, replayer in ((a, b, a), (b, a, b)):
            session = await maker.create_session(timeout_s=5)
            reply = await redeemer.evaluate(small_clip(), session=session, timeout_s=5)
            assert reply.HasField("session") and reply.decision != pb.DECISION_UNSPECIFIED
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await replayer.evaluate(small_clip(), session=session, timeout_s=5)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "already used" in (err.value.details() or "")


async def test_concurrent_redemptions_across_replicas_exactly_one_wins(replicas: Replicas) -> None:
    async with replicas.client(0, "race") as a, replicas.client(1, "race") as b:
        session = await a.create_session(timeout_s=5)
        media = small_clip()
        outcomes = await asyncio.gather(
            *((a, b)[i % 2].evaluate(media, session=session, timeout_s=10) for i in range(50)),
            return_exceptions=True,
        )
    won = [o for o in outcomes if isinstance(o, pb.EvaluateResponse)]
    codes = [o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1, f"{len(won)} redemptions succeeded"
    assert codes == [grpc.StatusCode.FAILED_PRECONDITION] * 49, codes


async def test_rate_limit_is_shared_by_the_replicas(replicas: Replicas) -> None:
    """10/s per key, from both replicas together: after the burst is spent, 3 s give about 30, not 60."""
    drain_s, window_s = 1.5, 3.0
    t0 = time.monotonic()
    ok: list[tuple[int, float]] = []  # (replica, sent at) of every call let through

    async def worker(client: GatewayClient, replica: int) -> None:
        while (sent := time.monotonic() - t0) < drain_s + window_s:
            try:
                await client.create_session(timeout_s=5)
                ok.append((replica, sent))
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
            await asyncio.sleep(0.01)  # about 100 calls/s per worker at most: bounded load

    async with replicas.client(0, "rate") as a, replicas.client(1, "rate") as b:
        await asyncio.gather(*(worker(c, i) for i, c in enumerate((a, b)) for _ in range(3)))
    drained = sum(sent < drain_s for _, sent in ok)
    in_window = [replica for replica, sent in ok if sent >= drain_s]
    expected = PER_S * window_s
    print(
        f"burst: {drained} let through, then {len(in_window)} in {window_s:.0f} s ({expected:.0f} expected)"
    )
    assert BURST <= drained <= BURST + PER_S * drain_s + 2
    assert 0.75 * expected <= len(in_window) <= 1.25 * expected
    assert set(in_window) == {0, 1}, "both replicas served calls from the shared bucket"


async def test_redis_outage_fails_sessions_closed_and_recovers_without_restart(replicas: Replicas) -> None:
    image = image_media(encode(np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)))
    pids = [p.pid for p in replicas.procs]
    async with replicas.client(0, "outage") as a, replicas.client(1, "outage") as b:
        kept = await a.create_session(timeout_s=5)

        async def refused(call: object) -> grpc.aio.AioRpcError:
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call  # type: ignore[misc]
            elapsed = time.monotonic() - started
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value
            assert "shared store" in (err.value.details() or "")
            assert elapsed < 1.0, f"refused after {elapsed:.2f} s: not inside the budget's first half"
            return err.value

        replicas.redis.pause()  # frozen Redis: connections open, no answers
        try:
            for client in (a, b, a):
                await refused(client.create_session(timeout_s=5))
            await refused(b.evaluate(small_clip(), session=kept, timeout_s=5))
            reply = await b.evaluate(image, timeout_s=5)  # no session: still judged
            assert reply.decision == pb.DECISION_LIVE
        finally:
            replicas.redis.resume()
        replicas.redis.kill()  # gone: connections reset, every key lost
        for client in (a, b):
            await refused(client.create_session(timeout_s=5))
            assert (await client.evaluate(image, timeout_s=5)).decision == pb.DECISION_LIVE
        replicas.redis.start()  # back on the same port, empty
        restarted = time.monotonic()
        for client in (a, b):  # each replica's breaker lets a probe through within 1 s
            while True:
                try:
                    await client.create_session(timeout_s=5)
                    break
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE
                    assert time.monotonic() - restarted < 5.0, "no recovery within 5 s of Redis' restart"
                    await asyncio.sleep(0.05)
        print(f"both replicas made sessions again {time.monotonic() - restarted:.2f} s after Redis restarted")
        session = await a.create_session(timeout_s=5)
        reply = await b.evaluate(small_clip(), session=session, timeout_s=5)
        assert reply.HasField("session")
    assert [p.pid for p in replicas.procs] == pids and all(p.poll() is None for p in replicas.procs)
