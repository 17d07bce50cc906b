"""`liveness dev-ca --out DIR`: a throw-away CA and certificates for local TLS/mTLS, plus an API key.

Writes ca.pem/ca.key, one <name>.pem/<name>.key per service (the gateway, every registered test, see
`liveness tests`, and a `client`), each valid for localhost and 127.0.0.1 as server and client, and prints the
environment that turns TLS on. Development only: a production deployment gets its certificates from its
own PKI.
"""

from __future__ import annotations

from pathlib import Path

import click

from liveness import registry
from liveness.security import make_dev_ca, new_api_key


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    default=("localhost", "127.0.0.1"),
    show_default=True,
    help="Names and IPs every certificate is valid for (repeatable; add k8s Service names).",
)
@click.option("--days", type=int, default=30, show_default=True, help="Validity in days.")
@click.option("--api-key", "api_key_id", default=None, help="Also make an API key with this id.")
def cli(out: Path, hosts: tuple[str, ...], days: int, api_key_id: str | None) -> None:
    """Make a development CA, certificates for every service, and optionally an API key."""
    if days < 1:
        raise click.BadParameter("--days must be >= 1")
    tests = registry.names()
    files = make_dev_ca(out, ("gateway", *tests, "client"), hosts, days)
    gw_cert, gw_key = files.certs["gateway"]
    click.echo(f"wrote {files.ca_cert} and {len(files.certs)} certificates to {out}")
    click.echo("# gateway: TLS to clients, mTLS to the tests")
    click.echo(f"LIVENESS_TLS_CERT={gw_cert} LIVENESS_TLS_KEY={gw_key}")
    click.echo(
        f"GATEWAY_BACKEND_CA={files.ca_cert} GATEWAY_BACKEND_CERT={gw_cert} GATEWAY_BACKEND_KEY={gw_key}"
    )
    if tests:
        click.echo(f"# each test (e.g. {tests[0]}): serve TLS and require the gateway's client certificate")
        cert, key = files.certs[tests[0]]
        click.echo(f"LIVENESS_TLS_CERT={cert} LIVENESS_TLS_KEY={key} LIVENESS_TLS_CLIENT_CA={files.ca_cert}")
    if api_key_id:
        key_value, digest = new_api_key()
        key_file = out / f"api-key-{api_key_id}.txt"
        key_file.write_text(key_value + "\n")
        key_file.chmod(0o600)
        click.echo(f"# API key {api_key_id!r} written to {key_file}; add to the gateway config:")
        click.echo(f'security:\n  api_keys:\n    {api_key_id}: "{digest}"')
