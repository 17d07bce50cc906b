"""Typed errors raised by domain code; one server interceptor maps them to gRPC status codes.

Nothing here imports grpc, so model code can raise these without knowing about transport.
"""

from __future__ import annotations


class LivenessError(Exception):
    """Base class; `grpc_code` names the grpc.StatusCode the interceptor answers with."""

    grpc_code = "INTERNAL"


class InvalidInput(LivenessError, ValueError):
    """The request itself is wrong (bad bytes, too big, wrong shape): the client must change it."""

    grpc_code = "INVALID_ARGUMENT"


class ModelNotReady(LivenessError, RuntimeError):
    """The model is still loading or the server is draining: retry elsewhere or later."""

    grpc_code = "UNAVAILABLE"


class Unavailable(LivenessError):
    """A dependency the call needs is down or too slow (the shared session store): retry shortly."""

    grpc_code = "UNAVAILABLE"


class PermissionDenied(LivenessError):
    """The caller is not allowed to make this call (bad API key, forged session)."""

    grpc_code = "PERMISSION_DENIED"


class FailedPrecondition(LivenessError):
    """The request is well formed but the state forbids it (expired or used session)."""

    grpc_code = "FAILED_PRECONDITION"


class Overloaded(LivenessError):
    """The server could not even start on the request within its deadline: shed it, retry later."""

    grpc_code = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(LivenessError):
    """The caller's own deadline leaves no time to do the work (or ran out before it could start)."""

    grpc_code = "DEADLINE_EXCEEDED"


class ParityError(LivenessError):
    """An exported artifact answers differently from the model it was exported from (training only)."""
