"""OpenTelemetry tracing: off by default and free when off; OTLP export when an endpoint is configured.

Every service starts it from the environment (`configure_from_env`, called by runtime.server.run): with
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, spans go to that collector by OTLP/gRPC
(the exporter reads the OTEL_EXPORTER_OTLP_* settings itself; OTEL_SERVICE_NAME overrides the service name).
Without one no tracer exists: `span` returns a shared no-op context manager, `traced` returns the function
itself, and the SDK is never imported.

Spans: the server interceptor opens one per RPC (`server_span`: liveness.v1.Liveness/Evaluate,
liveness.v1.LivenessTest/Check ...), child of the caller's W3C trace context (`traceparent` metadata); the
gateway adds decode, face detection, one client span per test call (whose context travels to the test in
`traceparent`, `outgoing_metadata`) and fusion. With tracing off the caller's `traceparent` is still passed
on unchanged, so a trace id the client chose reaches every service's log lines (`trace_id`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T = TypeVar("T")
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_PROPAGATOR = TraceContextTextMapPropagator()
_NULL = contextlib.nullcontext()

_tracer: trace.Tracer | None = None
_provider: Any = None
# The caller's trace context headers of the RPC being handled, passed on as they are while tracing is off.
incoming_var: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "trace_headers", default=()
)


def enabled() -> bool:
    return _tracer is not None


def install(provider: Any) -> None:
    """Trace into `provider` (an opentelemetry.sdk.trace.TracerProvider), replacing any earlier one."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("liveness")


def uninstall() -> None:
    """Tracing off again; flushes and shuts down the provider."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        provider.shutdown()


def configure_from_env(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Export spans by OTLP when the environment names an endpoint; True when tracing is now on."""
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", service)})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    return True


def span(name: str, **attributes: str | int | float | bool) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one while tracing is on; a shared no-op context manager when off."""
    if _tracer is None:
        return _NULL
    return _tracer.start_as_current_span(name, attributes=attributes)


def client_span(name: str, **attributes: str | int | float | bool) -> contextlib.AbstractContextManager[Any]:
    """A span for an outgoing call (kind CLIENT); no-op when tracing is off."""
    if _tracer is None:
        return _NULL
    return _tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)


def traced(fn: Callable[..., T], name: str) -> Callable[..., T]:
    """`fn` run in its own span, child of the span current *now*, wherever it later runs (an executor
    thread does not inherit the caller's context). `fn` itself when tracing is off."""
    if _tracer is None:
        return fn
    tracer, parent = _tracer, otel_context.get_current()

    def run(*args: Any) -> T:
        with tracer.start_as_current_span(name, context=parent):
            return fn(*args)

    return run


class server_span:  # noqa: N801 - used like a function: `with server_span(...) as span`
    """Context of one handled RPC: the caller's trace headers kept for `outgoing_metadata` and `log_ids`,
    and a SERVER span (child of the caller's context) while tracing is on. `as` gives the span, or None.

    A class, not a generator context manager: with tracing off it costs one scan of the metadata."""

    __slots__ = ("_attributes", "_headers", "_rpc", "_span_cm", "_token")

    def __init__(
        self,
        rpc: str,
        metadata: Sequence[tuple[str, Any]] | None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._rpc = rpc
        self._attributes = attributes
        headers: tuple[tuple[str, str], ...] = ()
        for item in metadata or ():
            if item[0] == TRACEPARENT or item[0] == TRACESTATE:
                headers = tuple(kv for kv in metadata or () if kv[0] in (TRACEPARENT, TRACESTATE))
                break
        self._headers = headers
        self._token: contextvars.Token[tuple[tuple[str, str], ...]] | None = None
        self._span_cm: Any = None

    def __enter__(self) -> Any:
        if self._headers:
            self._token = incoming_var.set(self._headers)
        if _tracer is None:
            return None
        parent = _PROPAGATOR.extract(dict(self._headers)) if self._headers else None
        self._span_cm = _tracer.start_as_current_span(
            self._rpc, context=parent, kind=trace.SpanKind.SERVER, attributes=self._attributes
        )
        return self._span_cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._span_cm is not None:
                self._span_cm.__exit__(*exc)
        finally:
            if self._token is not None:
                incoming_var.reset(self._token)


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """Trace context headers for a call made now: the current span's, or the caller's passed on."""
    if _tracer is None:
        return incoming_var.get()
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return tuple(carrier.items())


def log_ids() -> dict[str, str]:
    """trace_id (and span_id while tracing is on) of the current request, for its log lines; {} when none."""
    if _tracer is not None:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
    for key, value in incoming_var.get():
        if key == TRACEPARENT:
            match = _TRACEPARENT.match(value)
            if match:
                return {"trace_id": match.group(1)}
    return {}
