"""One server interceptor: request ids, trace context, JSON access logs, metrics, exception -> status mapping.

One access line per RPC ("rpc done"), with whatever the handler added through runtime.logging.annotate.
Each RPC but health and reflection runs in runtime.tracing.server_span (the caller's W3C trace context kept,
and a SERVER span while tracing is on), so its log lines carry the trace id.

Domain code raises liveness.errors types; they become their gRPC codes here (InvalidInput ->
INVALID_ARGUMENT). Anything else is a bug: INTERNAL with a generic message, the traceback in the log.
Refusals set the status instead of raising it (see refuse), so a refused request is freed at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from liveness.errors import LivenessError
from liveness.runtime import tracing
from liveness.runtime.logging import access_fields_var, request_id_var
from liveness.runtime.prometheus import rpc_metrics

log = logging.getLogger("liveness.rpc")
REQUEST_ID_KEY = "x-request-id"
# Infrastructure services: health probes and reflection. Not access-logged here, and left open to callers
# without an API key by liveness.security (probes carry none).
PROBE_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


def _code_name(code: Any) -> str:
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary-unary handler; streaming handlers (health Watch, reflection) pass through.

    The wrapped handler of each method is built once and reused: it reads the call's metadata from its
    context, so nothing in it is specific to one call.
    """

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method_path = handler_call_details.method
        wrapped = self._wrapped.get(method_path)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = _wrap(method_path, handler)
        self._wrapped[method_path] = wrapped
        return wrapped


def _wrap(method_path: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with request ids, the access log line, metrics and error mapping around it."""
    _, service, method = method_path.split("/")
    inner = handler.unary_unary
    deserialize = handler.request_deserializer
    quiet = service in PROBE_SERVICES
    rpc_name = f"{service}/{method}"
    span_attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

    async def wrapper(raw: Any, context: grpc.aio.ServicerContext) -> Any:
        # Parsed here rather than by grpc, which answers UNKNOWN for bytes that are not the message.
        try:
            request = deserialize(raw) if deserialize is not None else raw
        except DecodeError:
            rpc_metrics().observe(service, method, "INVALID_ARGUMENT", 0.0)
            refuse(context, "INVALID_ARGUMENT", "malformed request: not a valid protobuf message")
            return None
        metadata = context.invocation_metadata()
        rid = _metadata_request_id(metadata) or getattr(request, "request_id", "") or uuid.uuid4().hex
        token = request_id_var.set(rid[:128])
        fields: dict[str, Any] = {}
        fields_token = access_fields_var.set(fields)
        start = time.perf_counter()
        code = "OK"
        with _NO_SPAN if quiet else tracing.server_span(rpc_name, metadata, span_attributes) as current:
            try:
                return await inner(request, context)
            except LivenessError as exc:
                code = exc.grpc_code
                refuse(context, code, str(exc), exc)
            except grpc.aio.AbortError:
                code = _code_name(context.code())
                raise
            except Exception as exc:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"rpc": method})
                refuse(context, code, f"internal error (request id {rid})", exc)
            finally:
                elapsed = time.perf_counter() - start
                rpc_metrics().observe(service, method, code, elapsed)
                if current is not None:
                    current.set_attribute("rpc.grpc.status_code", code)
                    current.set_attribute("liveness.request_id", rid[:128])
                if not quiet:
                    level = logging.WARNING if code not in ("OK", "INVALID_ARGUMENT") else logging.INFO
                    log.log(
                        level,
                        "rpc done",
                        extra={
                            **fields,
                            "rpc": rpc_name,
                            "status": code,
                            "latency_ms": round(elapsed * 1000.0, 2),
                        },
                    )
                access_fields_var.reset(fields_token)
                request_id_var.reset(token)
        return None

    return grpc.unary_unary_rpc_method_handler(
        wrapper,
        request_deserializer=None,
        response_serializer=handler.response_serializer,
    )


def refuse(
    context: grpc.aio.ServicerContext, code: str, message: str, exc: BaseException | None = None
) -> None:
    """Answer with status `code` and `message` by setting them, not by raising (context.abort).

    An exception raised through grpc's frames ends up in a reference cycle with them, and with every frame
    of our own that the failure passed through: the request (8 MiB for a refused oversized image) then
    stays in memory until the cyclic garbage collector happens to run. Dropping the traceback likewise
    breaks the cycle an executor future forms with the frame that awaited it.
    """
    if exc is not None:
        exc.__traceback__ = None
    context.set_code(getattr(grpc.StatusCode, code))
    context.set_details(message)


_NO_SPAN = contextlib.nullcontext()


def _metadata_request_id(metadata: Any) -> str:
    """The x-request-id the caller sent, or ""."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            return value
    return ""
