"""Prometheus metrics with OpenTelemetry RPC semantic-convention names, served on their own HTTP port.

rpc.server.duration -> rpc_server_duration_seconds, labelled like OTel's rpc.* attributes.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Histogram, start_http_server

LABELS = ("rpc_service", "rpc_method", "rpc_grpc_status_code")
# Liveness answers sit between a few ms (iqa) and the 2 s budget.
BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class RpcMetrics:
    """Requests, errors and latency by method and gRPC status code."""

    def __init__(self) -> None:
        self.requests = Counter("rpc_server_requests", "RPCs handled, by outcome", LABELS)
        self.errors = Counter("rpc_server_errors", "RPCs answered with a non-OK gRPC status", LABELS)
        self.duration = Histogram(
            "rpc_server_duration_seconds", "Time to handle an RPC", LABELS, buckets=BUCKETS_S
        )
        self.results = Counter(
            "liveness_test_results", "Liveness test results by test and status", ("test", "status")
        )

    def observe(self, service: str, method: str, code: str, seconds: float) -> None:
        self.requests.labels(service, method, code).inc()
        if code != "OK":
            self.errors.labels(service, method, code).inc()
        self.duration.labels(service, method, code).observe(seconds)


@cache
def rpc_metrics() -> RpcMetrics:
    """The process's one metrics set (prometheus_client registers names globally)."""
    return RpcMetrics()


def start_metrics_server(port: int, host: str = "127.0.0.1") -> int | None:
    """Serve /metrics on `port` (0: a free port); returns the port, or None when disabled (-1)."""
    if port < 0:
        return None
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
