"""`python -m gateway`: config and settings from the environment, then serve Liveness until signalled."""

from __future__ import annotations

import asyncio

from gateway.config import load
from gateway.servicer import GatewayApp
from liveness.runtime import logging as jsonlog
from liveness.runtime.config import ServerSettings
from liveness.runtime.server import run


def main() -> None:
    settings = ServerSettings.from_env()
    jsonlog.configure("gateway", settings.log_level)
    asyncio.run(run(GatewayApp(load(), settings.limits), settings))


if __name__ == "__main__":
    main()
