"""Server bootstrap shared by every service: grpc.aio, health, reflection (v1 + v1alpha), metrics, shutdown.

Health reports NOT_SERVING until the app has loaded its model and run one warm-up inference, then SERVING;
on SIGTERM it turns NOT_SERVING, in-flight calls get `grace_s` to finish, then the app closes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from liveness import memory
from liveness.runtime import logging as jsonlog
from liveness.runtime import reflection, tracing
from liveness.runtime.config import ServerSettings
from liveness.runtime.interceptors import ServerInterceptor
from liveness.runtime.prometheus import start_metrics_server
from liveness.types import LivenessModel

log = logging.getLogger("liveness.server")


class App(Protocol):
    """What a service hands to the runtime: its servicers, and how to load and release its model."""

    name: str

    @property
    def service_names(self) -> tuple[str, ...]:
        """Full names of the gRPC services it registers (for health and reflection)."""
        ...

    def register(self, server: grpc.aio.Server) -> None: ...

    async def start(self, executor: ThreadPoolExecutor) -> None:
        """Load the model and warm it up; health turns SERVING after this returns."""
        ...

    async def close(self) -> None: ...


@dataclass
class RunningServer:
    """A started server: its bound port and the handles needed to stop it cleanly."""

    app: App
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    executor: ThreadPoolExecutor
    grace_s: float
    metrics_port: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING first, so load balancers stop sending; then drain, then release the model."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace_s if grace_s is None else grace_s)
        await self.app.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def server_options(settings: ServerSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]


async def start(
    app: App,
    settings: ServerSettings,
    *,
    credentials: grpc.ServerCredentials | None = None,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> RunningServer:
    """Bind, start serving health (NOT_SERVING), load the app, then report SERVING."""
    executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix=f"{app.name}-worker")
    server = grpc.aio.server(
        interceptors=[*(interceptors or []), ServerInterceptor()],
        options=server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    app.register(server)
    reflection.enable(
        (*app.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name), server
    )
    for name in ("", *app.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    bind = f"{settings.host}:{settings.port}"
    port = server.add_secure_port(bind, credentials) if credentials else server.add_insecure_port(bind)
    if port == 0:
        raise RuntimeError(f"could not bind {bind}")
    await server.start()
    metrics_port = start_metrics_server(settings.metrics_port, settings.host)
    running = RunningServer(app, server, port, health_servicer, executor, settings.grace_s, metrics_port)
    try:
        await app.start(executor)
    except BaseException:
        await running.stop(0)
        raise
    for name in ("", *app.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"port": port, "metrics_port": metrics_port, "test": app.name})
    return running


async def run(
    app: App,
    settings: ServerSettings,
    *,
    credentials: grpc.ServerCredentials | None = None,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    The process's C heap gets the services' policy first (liveness.memory.service_policy): two heaps for
    all threads, and freed blocks up to 4 MiB kept for reuse instead of page-faulted afresh by the next
    request.
    """
    memory.service_policy()
    if tracing.configure_from_env(app.name):
        log.info("tracing on: spans exported by OTLP")
    running = await start(app, settings, credentials=credentials, interceptors=interceptors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_s": running.grace_s})
    await running.stop()
    tracing.uninstall()  # flushes the spans not exported yet
    log.info("stopped")


def serve_test(name: str, model_factory: Callable[[], LivenessModel]) -> None:
    """Entry point of a test service: settings from the environment, JSON logs, serve until signalled."""
    from liveness.runtime.servicer import TestApp
    from liveness.security import server_credentials_from_env

    settings = ServerSettings.from_env()
    credentials = server_credentials_from_env()  # LIVENESS_TLS_CERT/_KEY/_CLIENT_CA: mTLS from the gateway
    jsonlog.configure(name, settings.log_level)
    asyncio.run(run(TestApp(name, model_factory, settings.limits), settings, credentials=credentials))
