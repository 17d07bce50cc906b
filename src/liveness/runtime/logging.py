"""Structured JSON log lines on stdout; every line of a call carries its request id and trace id.

Never pass image bytes, crops, embeddings or landmarks to a log call: only ids, sizes, statuses and timings.
Each RPC gets one access line (runtime.interceptors); a handler adds its own outcome to that line with
`annotate` rather than writing a second line per request.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

from liveness.runtime import tracing

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# The fields the current RPC's handler adds to its access line; None outside an RPC.
access_fields_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "access_fields", default=None
)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts level logger msg service request_id and any `extra` fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "service": self._service,
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
            entry.update(tracing.log_ids())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def annotate(**fields: str | int | float | bool | None) -> None:
    """Add `fields` to the access line of the RPC being handled (nothing outside an RPC)."""
    current = access_fields_var.get()
    if current is not None:
        current.update(fields)


def configure(service: str, level: str = "INFO", stream: Any = None) -> None:
    """Route the root logger to JSON lines on `stream` (stdout by default)."""
    # The lines carry none of the caller's file and line, thread or process: skip collecting them for every
    # record (the logging HOWTO's "Optimization" settings).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
