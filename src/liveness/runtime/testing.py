"""Serve a model on a real loopback gRPC server for tests and benchmarks (port 0: any free port)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.servicer import TestApp
from liveness.types import LivenessModel


@asynccontextmanager
async def serve_model(model: LivenessModel, settings: ServerSettings | None = None) -> AsyncIterator[str]:
    """Yield the address of a running LivenessTest server for `model`; stop it on exit."""
    settings = settings or ServerSettings(port=0, grace_s=0.0)
    running = await server.start(TestApp(model.info.name, lambda: model, settings.limits), settings)
    try:
        yield running.address
    finally:
        await running.stop(0)
