"""One server interceptor: request ids, JSON access logs, metrics, and exception -> status mapping.

Domain code raises liveness.errors types; they become their gRPC codes here (InvalidInput ->
INVALID_ARGUMENT). Anything else is a bug: INTERNAL with a generic message, the traceback in the log.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from liveness.errors import LivenessError
from liveness.runtime.logging import request_id_var
from liveness.runtime.metrics import rpc_metrics

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
    """Wraps every unary-unary handler; streaming handlers (health Watch, reflection) pass through."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        _, service, method = handler_call_details.method.split("/")
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        inner = handler.unary_unary
        deserialize = handler.request_deserializer
        quiet = service in PROBE_SERVICES

        async def wrapper(raw: Any, context: grpc.aio.ServicerContext) -> Any:
            # Parsed here rather than by grpc, which answers UNKNOWN for bytes that are not the message.
            try:
                request = deserialize(raw) if deserialize is not None else raw
            except DecodeError:
                rpc_metrics().observe(service, method, "INVALID_ARGUMENT", 0.0)
                message = "malformed request: not a valid protobuf message"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
            rid = metadata.get(REQUEST_ID_KEY) or getattr(request, "request_id", "") or uuid.uuid4().hex
            token = request_id_var.set(rid[:128])
            start = time.perf_counter()
            code = "OK"
            try:
                return await inner(request, context)
            except LivenessError as exc:
                code = exc.grpc_code
                await context.abort(getattr(grpc.StatusCode, code), str(exc))
            except grpc.aio.AbortError:
                code = _code_name(context.code())
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"rpc": method})
                await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {rid})")
            finally:
                elapsed = time.perf_counter() - start
                rpc_metrics().observe(service, method, code, elapsed)
                if not quiet:
                    level = logging.WARNING if code not in ("OK", "INVALID_ARGUMENT") else logging.INFO
                    log.log(
                        level,
                        "rpc done",
                        extra={
                            "rpc": f"{service}/{method}",
                            "status": code,
                            "latency_ms": round(elapsed * 1000.0, 2),
                        },
                    )
                request_id_var.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            wrapper,
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )
