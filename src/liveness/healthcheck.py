"""`python -m liveness.healthcheck`: exit 0 when a local server reports SERVING on grpc.health.v1, else 1.

The container images' HEALTHCHECK runs it (no grpc_health_probe binary can be fetched here); Kubernetes
uses its native gRPC probes instead. The address defaults to 127.0.0.1:$LIVENESS_PORT.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_PORT = 50051


def default_address(env: Mapping[str, str] = os.environ) -> str:
    """127.0.0.1 and the port the service listens on (LIVENESS_PORT, as the runtime reads it)."""
    return f"127.0.0.1:{env.get('LIVENESS_PORT') or DEFAULT_PORT}"


def probe(address: str, service: str = "", timeout_s: float = 2.0) -> str:
    """The health status name of `service` at `address` (SERVING, NOT_SERVING ...), or the gRPC error code."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            return str(exc.code().name)  # type: ignore[attr-defined]
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    """Arguments: [ADDRESS [SERVICE]]; prints the status and returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 2:
        print("usage: python -m liveness.healthcheck [HOST:PORT [SERVICE]]", file=sys.stderr)
        return 2
    address = args[0] if args else default_address(env)
    status = probe(address, args[1] if len(args) > 1 else "")
    print(f"{address} {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
