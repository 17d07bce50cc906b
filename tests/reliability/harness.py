"""Plumbing shared by the reliability tests and the long-run scripts in scripts/.

- `ThreadedServer` runs an async server context (a served model, a gateway) on its own event loop in a
  daemon thread, so synchronous tests (parametrized cases, hypothesis) can share one server for a session.
- `find_real_service()` builds a registered test (liveness.registry) whose model artifact exists, so the
  battery runs against each.
- `rss_bytes()` reads a process's resident set size from /proc (Linux), for memory-bound checks.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.config import Endpoint, GatewayConfig, Thresholds
from gateway.servicer import GatewayApp
from liveness import registry
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.types import LivenessModel

TEST_NAMES = registry.names()


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of `pid` (default: this process) in bytes, from /proc/<pid>/status."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in {path}")


class ThreadedServer:
    """Enter `factory()` (an async context manager yielding an address) on a private loop in a thread."""

    def __init__(
        self, factory: Callable[[], AbstractAsyncContextManager[str]], start_timeout_s: float = 120
    ) -> None:
        self._factory = factory
        self._timeout_s = start_timeout_s
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reliability-server", daemon=True)
        self.address = ""

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with self._factory() as address:
                self.address = address
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # reported to the thread that called __enter__
            self._error = exc
        finally:
            self._ready.set()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(self._timeout_s):
            raise TimeoutError(f"server did not start within {self._timeout_s} s")
        if self._error is not None:
            raise RuntimeError(f"server failed to start: {self._error!r}") from self._error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@asynccontextmanager
async def gateway_for(
    endpoints: list[Endpoint],
    settings: ServerSettings,
    budget_ms: float = 2000.0,
    describe_ttl_s: float = 30.0,
) -> AsyncIterator[str]:
    """A gateway calling `endpoints` (live 0.6, spoof 0.4, half the weight must answer); yield its address."""
    config = GatewayConfig(
        budget_ms=budget_ms,
        margin_ms=50,
        describe_ttl_s=describe_ttl_s,
        tests=tuple(endpoints),
        thresholds=Thresholds(live=0.6, spoof=0.4, min_weight_fraction=0.5),
    )
    running = await server.start(GatewayApp(config, settings.limits), settings)
    try:
        yield running.address
    finally:
        await running.stop(0)


@asynccontextmanager
async def serve_gateway(
    backends: list[tuple[LivenessModel, float]],
    settings: ServerSettings,
    budget_ms: float = 2000.0,
) -> AsyncIterator[str]:
    """Serve each model on its own loopback port, then a gateway calling them all; yield its address."""
    async with AsyncExitStack() as stack:
        endpoints = []
        for model, weight in backends:
            address = await stack.enter_async_context(serve_model(model))
            endpoints.append(Endpoint(model.info.name, address, weight))
        yield await stack.enter_async_context(gateway_for(endpoints, settings, budget_ms))


@dataclass(frozen=True, slots=True)
class RealService:
    """A test service whose artifact exists here: how to build its model."""

    name: str
    model_cls: Any
    settings_cls: Any

    def build(self, threads: int = 1) -> LivenessModel:
        settings = self.settings_cls()
        if "threads" in getattr(self.settings_cls, "__dataclass_fields__", {}):
            settings = self.settings_cls(threads=threads)
        return self.model_cls(settings)  # type: ignore[no-any-return]


def find_real_service(name: str) -> tuple[RealService | None, str]:
    """The registered test `name` if its model imports and its artifact exists, else None and why not."""
    spec = registry.get(name)
    try:
        model_cls, settings_cls = spec.model_class(), spec.settings_class()
    except ImportError as exc:
        return None, f"{spec.model} does not import ({exc})"
    path = getattr(settings_cls(), "model_path", None)  # a test without an artifact has none
    if path is not None and not Path(path).is_file():
        return None, f"{name} model artifact not built yet ({Path(path).name} missing)"
    return RealService(name, model_cls, settings_cls), ""
