"""`liveness web`: the browser capture page and its HTTP -> gRPC bridge to the gateway.

The page (static/, vanilla JS, no build step) opens the camera, creates a session, shows the flash colours
and the challenge prompts while it records a few seconds, and shows the gateway's decision.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import click

from liveness.web.bridge import CaptureSettings
from liveness.web.server import WebServer, WebSettings

__all__ = ["WebServer", "WebSettings", "CaptureSettings", "cli"]


@contextlib.contextmanager
def _gateway(address: str | None) -> Iterator[str]:
    if address:
        yield address
        return
    from liveness.stack import LocalStack

    click.echo("starting the local stack (gateway and tests)...", err=True)
    with LocalStack() as stack:
        yield stack.gateway_address


@click.command()
@click.option(
    "--gateway",
    "address",
    default=None,
    help="HOST:PORT of a running gateway (default: start a local stack).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="HTTP port (0: any free port).")
@click.option("--timeout", "timeout_s", default=20.0, show_default=True, help="Deadline per gateway call, s.")
@click.option(
    "--max-body-mb", default=16.0, show_default=True, help="Largest /api/evaluate body accepted, MiB."
)
@click.option("--max-frames", default=48, show_default=True, help="Frames the page records (<= 64).")
@click.option(
    "--max-concurrent", default=8, show_default=True, help="API calls in flight at once; more get HTTP 503."
)
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TLS certificate (PEM): serve HTTPS, which browsers need for the camera anywhere but localhost.",
)
@click.option(
    "--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="TLS key."
)
@click.option("--api-key", envvar="LIVENESS_API_KEY", default=None, help="API key sent to the gateway.")
@click.option("--log-level", default="INFO", show_default=True)
def cli(
    address: str | None,
    host: str,
    port: int,
    timeout_s: float,
    max_body_mb: float,
    max_frames: int,
    max_concurrent: int,
    certfile: Path | None,
    keyfile: Path | None,
    api_key: str | None,
    log_level: str,
) -> None:
    """Serve the web capture page: camera, on-screen challenge and flash colours, live result."""
    from liveness.runtime.logging import configure

    configure("web", log_level)
    try:
        settings = WebSettings(
            gateway=address or "",
            host=host,
            port=port,
            timeout_s=timeout_s,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            capture=CaptureSettings(max_frames=max_frames),
            certfile=certfile,
            keyfile=keyfile,
            api_key=api_key,
            max_concurrent=max_concurrent,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    from liveness.stack import stop_on_signals

    stop_on_signals()
    try:
        with _gateway(address) as gateway_address:
            settings = dataclasses.replace(settings, gateway=gateway_address)
            server = WebServer(settings)
            click.echo(f"capture page on {server.url} (gateway {gateway_address}; Ctrl-C to stop)", err=True)
            try:
                server.serve_forever(poll_interval=0.2)
            finally:
                server.server_close()
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
