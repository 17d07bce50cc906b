"""Security rules of issue #10 over real loopback gRPC: TLS for clients, mTLS between the gateway and the
tests, API keys with per-key rate limits, request size limits, and image bytes never logged or stored."""

from __future__ import annotations

import base64
import io
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from gateway.config import Endpoint, GatewayConfig
from gateway.servicer import GatewayApp
from liveness.client import GatewayClient, TestClient, clip_media, image_media
from liveness.runtime import logging as jsonlog
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.servicer import TestApp
from liveness.security import (
    ApiKeyInterceptor,
    ApiKeys,
    DevCA,
    RateLimit,
    channel_credentials,
    hash_api_key,
    make_dev_ca,
    server_credentials,
)
from liveness.v1 import liveness_pb2 as pb
from tests.doubles import DoubleModel

KEYS = {"alice": "alice-" + "a" * 40, "bob": "bob-" + "b" * 40}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return make_dev_ca(tmp_path_factory.mktemp("ca"), ["gateway", "iqa", "client"])


def api_keys(rate: RateLimit | None = None) -> ApiKeys:
    return ApiKeys({k: hash_api_key(v) for k, v in KEYS.items()}, rate or RateLimit(per_s=100, burst=100))


@asynccontextmanager
async def stack(
    ca: DevCA | None = None,
    keys: ApiKeys | None = None,
    backend_client_cert: bool = True,
    settings: ServerSettings | None = None,
    model: DoubleModel | None = None,
) -> AsyncIterator[str]:
    """An iqa double behind a gateway; with `ca` the test serves mTLS, the gateway TLS; `keys`: API keys."""
    settings = settings or ServerSettings(port=0, grace_s=0)
    model = model or DoubleModel("iqa", score=0.9)
    async with AsyncExitStack() as exits:
        test_creds = gw_creds = backend_creds = None
        if ca is not None:
            test_creds = server_credentials(*ca.certs["iqa"], client_ca=ca.ca_cert)
            gw_creds = server_credentials(*ca.certs["gateway"])
            cert, key = ca.certs["gateway"] if backend_client_cert else (None, None)
            backend_creds = channel_credentials(ca.ca_cert, cert, key)
        test = await server.start(
            TestApp("iqa", lambda: model, settings.limits),
            ServerSettings(port=0, grace_s=0),
            credentials=test_creds,
        )
        exits.push_async_callback(test.stop, 0)
        config = GatewayConfig(
            tests=(Endpoint("iqa", f"localhost:{test.port}", 1.0),), api_keys=keys or ApiKeys()
        )
        gateway = await server.start(
            GatewayApp(config, settings.limits, backend_credentials=backend_creds),
            settings,
            credentials=gw_creds,
            interceptors=[ApiKeyInterceptor(keys)] if keys else [],
        )
        exits.push_async_callback(gateway.stop, 0)
        yield f"localhost:{gateway.port}"


async def test_tls_to_clients_and_mtls_to_tests(ca: DevCA, astronaut_jpeg: bytes) -> None:
    async with stack(ca) as address:
        async with GatewayClient(address, credentials=channel_credentials(ca.ca_cert)) as client:
            reply = await client.evaluate(image_media(astronaut_jpeg))
        assert reply.tests[0].result.status == pb.STATUS_OK and reply.decision == pb.DECISION_LIVE
        async with GatewayClient(address) as plain:  # a plain-text client cannot talk to a TLS gateway
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await plain.evaluate(image_media(astronaut_jpeg), timeout_s=2)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tests_refuse_a_gateway_without_client_certificate(ca: DevCA, astronaut_jpeg: bytes) -> None:
    async with stack(ca, backend_client_cert=False) as address:
        async with GatewayClient(address, credentials=channel_credentials(ca.ca_cert)) as client:
            reply = await client.evaluate(image_media(astronaut_jpeg))
    assert reply.tests[0].result.status == pb.STATUS_UNAVAILABLE and reply.decision == pb.DECISION_UNCERTAIN


async def test_mtls_test_accepts_only_certificates_of_the_ca(ca: DevCA, tmp_path: Path) -> None:
    other = make_dev_ca(tmp_path / "other", ["intruder"])
    model = DoubleModel("iqa")
    creds = server_credentials(*ca.certs["iqa"], client_ca=ca.ca_cert)
    test = await server.start(
        TestApp("iqa", lambda: model, ServerSettings().limits),
        ServerSettings(port=0, grace_s=0),
        credentials=creds,
    )
    try:
        address = f"localhost:{test.port}"
        good = channel_credentials(ca.ca_cert, *ca.certs["client"])
        async with TestClient(address, channel=grpc.aio.secure_channel(address, good)) as client:
            assert (await client.describe(timeout_s=5)).name == "iqa"
        bad = channel_credentials(ca.ca_cert, *other.certs["intruder"])
        async with TestClient(address, channel=grpc.aio.secure_channel(address, bad)) as client:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.describe(timeout_s=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await test.stop(0)


@pytest.mark.parametrize(("key", "message"), [(None, "missing"), ("guessed-key", "not a known key")])
async def test_api_key_required(astronaut_jpeg: bytes, key: str | None, message: str) -> None:
    async with stack(keys=api_keys()) as address:
        async with GatewayClient(address, api_key=key) as client:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.evaluate(image_media(astronaut_jpeg))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and message in err.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.create_session()
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        async with GatewayClient(address, api_key=KEYS["alice"]) as client:
            assert (await client.evaluate(image_media(astronaut_jpeg))).decision == pb.DECISION_LIVE
        # Probes carry no key: health stays open.
        async with grpc.aio.insecure_channel(address) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="")
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_rate_limit_is_per_key(astronaut_jpeg: bytes) -> None:
    async with stack(keys=api_keys(RateLimit(per_s=0.01, burst=2))) as address:
        async with GatewayClient(address, api_key=KEYS["alice"]) as alice:
            for _ in range(2):
                await alice.evaluate(image_media(astronaut_jpeg))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await alice.evaluate(image_media(astronaut_jpeg))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "alice" in err.value.details()
        async with GatewayClient(address, api_key=KEYS["bob"]) as bob:
            assert (await bob.evaluate(image_media(astronaut_jpeg))).decision == pb.DECISION_LIVE


async def test_session_is_bound_to_the_key_that_created_it(astronaut_jpeg: bytes) -> None:
    clip = clip_media([(astronaut_jpeg, 100 * i) for i in range(4)])
    async with stack(keys=api_keys()) as address:
        async with GatewayClient(address, api_key=KEYS["alice"]) as alice:
            session = await alice.create_session()
        async with GatewayClient(address, api_key=KEYS["bob"]) as bob:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await bob.evaluate(clip, session=session)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "another API key" in err.value.details()


async def test_request_size_limits(astronaut_jpeg: bytes) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    big = io.BytesIO()
    Image.fromarray(noise).save(big, format="PNG")  # ~480 kB: incompressible
    limits = ServerSettings(port=0, grace_s=0, max_message_bytes=256 * 1024, max_image_bytes=32 * 1024)
    async with stack(settings=limits) as address, GatewayClient(address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(big.getvalue()))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # transport limit: never decoded
        assert len(astronaut_jpeg) > 32 * 1024
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.evaluate(image_media(astronaut_jpeg))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # per-image limit, before decoding
        assert "exceeds the limit" in err.value.details()


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of the process, at DEBUG, as the services' JSON lines."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    jsonlog.configure("gateway", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


async def test_image_bytes_are_never_logged_or_stored(
    astronaut: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    marker = b"LIVENESS-SECRET-PIXELS-7f3a9c"
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, format="JPEG", comment=marker)
    jpeg = buf.getvalue()
    assert marker in jpeg
    workdir, scratch = tmp_path / "cwd", tmp_path / "tmp"
    workdir.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    face_test = DoubleModel("iqa", score=0.9, needs_face=True)
    with captured_logs() as logs:
        async with stack(model=face_test) as address, GatewayClient(address) as client:
            await client.evaluate(image_media(jpeg))
            session = await client.create_session()
            await client.evaluate(clip_media([(jpeg, 100 * i) for i in range(6)]), session=session)
            with pytest.raises(grpc.aio.AioRpcError):
                await client.evaluate(image_media(jpeg[: len(jpeg) // 2]))  # corrupt: an error path too
    out, err = capfd.readouterr()
    text = logs.getvalue() + out + err
    assert '"decision":"LIVE"' in logs.getvalue()  # the logs were captured
    for form in (
        marker.decode(),
        jpeg[:64].hex(),
        base64.b64encode(jpeg[:48]).decode(),
        repr(jpeg[:32])[2:-1],
    ):
        assert form not in text
    assert list(workdir.iterdir()) == [] and list(scratch.iterdir()) == []
