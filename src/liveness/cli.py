"""The `liveness` command: serve one service, run the local stack, check media, and the toolkit commands.

Subcommands that need heavy imports (training, evaluation) are loaded only when called.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _load(target: str) -> click.Command:
    module, attr = target.split(":", 1)
    command = getattr(importlib.import_module(module), attr)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose subcommands live in other modules, imported only when invoked."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy or {}

    def targets(self) -> dict[str, str]:
        """Subcommand name -> "module:attribute" of its click command."""
        return self._lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        found = [name for name, target in self.targets().items() if _available(target)]
        return sorted({*super().list_commands(ctx), *found})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.targets().get(cmd_name)
        if target is not None and _available(target):
            return _load(target)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy={
        "eval": "liveness.evaluate:cli",
        "bench": "liveness.bench:cli",
        "calibrate": "liveness.calibrate:cli",
        "web": "liveness.web:cli",
        "dev-ca": "gateway.devca:cli",
    },
)
@click.version_option(package_name="liveness")
def main() -> None:
    """Face liveness: presentation-attack detection as gRPC services."""


class TrainGroup(LazyGroup):
    """`liveness train <test>`: the registered tests that ship a `<test>.train:cli` command."""

    def targets(self) -> dict[str, str]:
        from liveness import registry

        return {name: f"{name}.train:cli" for name in registry.names()}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Before a recipe's module imports Keras: TensorFlow reads these settings once, at import.
        from liveness import training

        training.reproducible_environment()
        return super().get_command(ctx, cmd_name)


@main.group(cls=TrainGroup)
def train() -> None:
    """Train a test's model: `liveness train <test> --data DIR` (needs the [train] extra)."""


@main.command()
@click.argument("service")
def serve(service: str) -> None:
    """Run one service: a registered test (`liveness tests` lists them) or the gateway (settings from
    LIVENESS_* and <SERVICE>_* environment variables)."""
    from liveness import registry

    if service == "gateway":
        importlib.import_module("gateway.__main__").main()
        return
    tests = {spec.name: spec for spec in registry.tests()}
    if service not in tests:
        hint = "" if tests else " (no test is registered: install the project, `make install`)"
        raise click.BadParameter(
            f"{service!r} is not one of {', '.join([*tests, 'gateway'])}{hint}", param_hint="'SERVICE'"
        )
    tests[service].serve()


@main.command("tests")
def list_tests() -> None:
    """List the registered liveness tests: name, loopback port in `liveness up`, what it checks."""
    from liveness import registry

    for spec in registry.tests():
        click.echo(f"{spec.name:<10} {spec.port:<6} {spec.summary}")


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Gateway config YAML (default: the packaged one).",
)
@click.option("--port", default=50051, show_default=True, help="Gateway port on 127.0.0.1.")
@click.option("--test", "tests", multiple=True, help="Run only these tests (repeatable).")
def up(config_path: Path | None, port: int, tests: tuple[str, ...]) -> None:
    """Run the gateway and every test on loopback as child processes, restarting any that exits; Ctrl-C
    (or SIGTERM) stops them all."""
    from liveness.stack import LocalStack, stop_on_signals

    stack = LocalStack(
        list(tests) or None, config_path=config_path, fixed_ports=True, gateway_port=port, quiet=False
    )
    stop_on_signals()
    try:
        with stack:
            pids = stack.pids
            for name, address in stack.addresses.items():
                click.echo(f"{name:<10} {address}  (pid {pids[name]})", err=True)
            click.echo(
                f"{'gateway':<10} {stack.gateway_address}  (pid {pids['gateway']}; ready; Ctrl-C to stop)",
                err=True,
            )
            stack.supervise()
    except KeyboardInterrupt:
        click.echo("stopping", err=True)


def _expand(paths: tuple[Path, ...]) -> Iterator[Path]:
    from liveness.data.samples import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            )
        else:
            yield path


def result_json(path: Path, response: Any) -> dict[str, Any]:
    """The stable public JSON line of `liveness check --json` for one input."""
    from liveness.v1 import liveness_pb2 as pb

    return {
        "path": str(path),
        "decision": pb.Decision.Name(response.decision).removeprefix("DECISION_").lower(),
        "score": round(float(response.score), 4),
        "degraded": bool(response.degraded),
        "elapsed_ms": round(float(response.elapsed_ms), 1),
        "tests": {
            t.result.test: {
                "score": round(float(t.result.score), 4),
                "status": pb.Status.Name(t.result.status).removeprefix("STATUS_").lower(),
                "latency_ms": round(float(t.result.latency_ms), 1),
            }
            for t in response.tests
        },
    }


def _table_row(line: dict[str, Any]) -> str:
    tests = "  ".join(
        f"{name}={t['score']:.2f}" if t["status"] == "ok" else f"{name}:{t['status']}"
        for name, t in line["tests"].items()
    )
    flag = " (degraded)" if line["degraded"] else ""
    return (
        f"{line['path']:<40} {line['decision'].upper():<9} {line['score']:.3f}  "
        f"{line['elapsed_ms']:>7.1f} ms{flag}  {tests}"
    )


async def _check_all(
    address: str,
    paths: list[Path],
    frames: int,
    as_json: bool,
    timeout_s: float,
    warm_up: Path | None = None,
) -> int:
    """Print each path's decision; `warm_up`: a path sent first with its answer thrown away (a stack started
    for the command, liveness.stack.warm_up_index)."""
    import grpc

    from liveness.client import GatewayClient, media_from_path
    from liveness.errors import InvalidInput

    failures = 0
    async with GatewayClient(address) as client:
        if warm_up is not None:
            with contextlib.suppress(grpc.aio.AioRpcError, InvalidInput, OSError):  # reported on its turn
                await client.evaluate(media_from_path(warm_up, frames=frames), timeout_s=timeout_s)
        if not as_json:
            click.echo(f"{'path':<40} {'decision':<9} {'score':<6} {'elapsed':>10}  tests")
        for path in paths:
            try:
                response = await client.evaluate(media_from_path(path, frames=frames), timeout_s=timeout_s)
            except (grpc.aio.AioRpcError, InvalidInput, OSError) as exc:
                failures += 1
                message = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                if as_json:
                    click.echo(json.dumps({"path": str(path), "error": message}))
                else:
                    click.echo(f"{str(path):<40} ERROR     {message}")
                continue
            line = result_json(path, response)
            click.echo(json.dumps(line) if as_json else _table_row(line))
    return failures


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--gateway", "address", default=None, help="HOST:PORT of a running gateway (default: start one)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
@click.option("--frames", default=16, show_default=True, help="Frames sampled from each video.")
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, help="Client deadline per input, s.")
def check(paths: tuple[Path, ...], address: str | None, as_json: bool, frames: int, timeout_s: float) -> None:
    """Judge images and videos (directories are searched) and print each decision."""
    files = list(_expand(paths))
    if not files:
        raise click.UsageError("no image or video files found in the given paths")
    if address:
        failures = asyncio.run(_check_all(address, files, frames, as_json, timeout_s))
    else:
        from liveness.data.samples import VIDEO_SUFFIXES
        from liveness.stack import LocalStack, warm_up_index

        warm = files[warm_up_index([p.suffix.lower() in VIDEO_SUFFIXES for p in files])]
        with LocalStack() as stack:
            failures = asyncio.run(_check_all(stack.gateway_address, files, frames, as_json, timeout_s, warm))
    sys.exit(1 if failures else 0)
