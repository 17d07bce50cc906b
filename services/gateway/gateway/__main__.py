"""`python -m gateway`: config and settings from the environment, then serve Liveness until signalled.

Security is off unless configured: LIVENESS_TLS_CERT/_KEY (+ _CLIENT_CA) serve TLS (mTLS) to clients,
GATEWAY_BACKEND_CA/_CERT/_KEY make the calls to the tests TLS (mTLS), `security.api_keys` in the config
turns API keys and per-key rate limiting on, GATEWAY_SESSION_KEY (hex) signs session tokens.
GATEWAY_REDIS_URL keeps sessions and rate limits in Redis, shared by every replica (gateway.shared_state).
"""

from __future__ import annotations

import asyncio
import os

import grpc

from gateway.config import load
from gateway.servicer import GatewayApp
from gateway.sessions import session_key_from_env
from gateway.shared_state import SharedRateLimiter, state_from_env
from liveness import security
from liveness.runtime import logging as jsonlog
from liveness.runtime.config import ServerSettings
from liveness.runtime.server import run


def main() -> None:
    settings = ServerSettings.from_env()
    jsonlog.configure("gateway", settings.log_level)
    config = load()
    shared = state_from_env(os.environ)
    app = GatewayApp(
        config,
        settings.limits,
        backend_credentials=security.channel_credentials_from_env(os.environ),
        session_key=session_key_from_env(os.environ),
        shared=shared,
        max_message_bytes=settings.max_message_bytes,
    )
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if config.api_keys.enabled:
        limiter = SharedRateLimiter(shared, config.api_keys.rate_limit) if shared is not None else None
        interceptors.append(security.ApiKeyInterceptor(config.api_keys, limiter=limiter))
    credentials = security.server_credentials_from_env(os.environ)
    asyncio.run(run(app, settings, credentials=credentials, interceptors=interceptors))


if __name__ == "__main__":
    main()
