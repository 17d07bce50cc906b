"""A thin HTTP -> gRPC bridge that serves the capture page: stdlib `http.server`, no web framework.

Threaded HTTP handlers hand each call to one asyncio loop thread that owns the GatewayClient (grpc.aio
channels belong to the loop that made them). Endpoints:

- `GET /` and `GET /static/<file>`: the page (files read once at start-up, served from memory).
- `POST /api/session`: Liveness.CreateSession -> the page's session JSON (bridge.session_json).
- `POST /api/evaluate`: JSON frames -> Liveness.Evaluate -> the decision JSON (bridge.result_json).
- `GET /healthz`: 200 once the server is listening (the gateway's own health is separate).

Bad input answers 400 with the gateway's (or the parser's) message; oversized bodies 413. Request bodies
are never logged: log lines carry the method, path, status and latency only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import grpc

from liveness.client import GatewayClient
from liveness.errors import InvalidInput
from liveness.v1 import liveness_pb2 as pb
from liveness.web.bridge import CaptureSettings, parse_evaluate, result_json, session_json

log = logging.getLogger("liveness.web")
T = TypeVar("T")
SOCKET_TIMEOUT_S = 30.0

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The page loads only its own files and talks only to this server; the camera is allowed for it alone.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# gRPC status -> HTTP status for the errors a page can cause or meet.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.FAILED_PRECONDITION: HTTPStatus.CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
    grpc.StatusCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    grpc.StatusCode.DEADLINE_EXCEEDED: HTTPStatus.GATEWAY_TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The bridge's settings; `max_body_bytes` bounds one /api/evaluate body (base64 frames + JSON)."""

    gateway: str
    host: str = "127.0.0.1"
    port: int = 8080
    timeout_s: float = 20.0
    max_body_bytes: int = 16 * 1024 * 1024
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    certfile: Path | None = None
    keyfile: Path | None = None
    api_key: str | None = None
    max_concurrent: int = 8  # API calls in flight; more answer 503 (bodies are buffered: bounds memory)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {self.port}")
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if self.timeout_s <= 0 or self.max_body_bytes < 1024:
            raise ValueError("timeout_s must be positive and max_body_bytes at least 1024")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("give both certfile and keyfile for HTTPS, or neither")


def load_static() -> dict[str, tuple[bytes, str]]:
    """The page's files by URL path, read once from the package (installed or editable)."""
    root = resources.files("liveness.web") / "static"
    files: dict[str, tuple[bytes, str]] = {}
    for entry in root.iterdir():
        suffix = Path(entry.name).suffix
        if entry.is_file() and suffix in STATIC_TYPES:
            files[f"/static/{entry.name}"] = (entry.read_bytes(), STATIC_TYPES[suffix])
    if "/static/index.html" not in files:
        raise RuntimeError("liveness.web: static/index.html is missing from the package")
    files["/"] = files["/static/index.html"]
    return files


class GatewayBridge:
    """Runs a GatewayClient on its own event-loop thread so the threaded HTTP handlers can call it."""

    def __init__(self, address: str, timeout_s: float, api_key: str | None = None) -> None:
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="web-grpc", daemon=True)
        self._thread.start()
        self._client = self._run(self._open(address, api_key))

    @staticmethod
    async def _open(address: str, api_key: str | None) -> GatewayClient:
        return GatewayClient(address, api_key=api_key)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def create_session(self) -> pb.CreateSessionResponse:
        return self._run(self._client.create_session(timeout_s=self._timeout_s))

    def evaluate(self, media: pb.Media, session_id: str, nonce: str) -> pb.EvaluateResponse:
        session = pb.CreateSessionResponse(session_id=session_id, nonce=nonce) if session_id else None
        return self._run(self._client.evaluate(media, timeout_s=self._timeout_s, session=session))

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        self._loop.close()


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class WebServer(ThreadingHTTPServer):
    """The HTTP server: holds the settings, the page's files and the gateway bridge for the handlers."""

    daemon_threads = True

    def __init__(self, settings: WebSettings, bridge: GatewayBridge | None = None) -> None:
        self.settings = settings
        self.static = load_static()
        self._tls: ssl.SSLContext | None = None
        if settings.certfile is not None and settings.keyfile is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(settings.certfile, settings.keyfile)
        self.slots = threading.BoundedSemaphore(settings.max_concurrent)
        super().__init__((settings.host, settings.port), _Handler)
        try:
            self.bridge = bridge or GatewayBridge(settings.gateway, settings.timeout_s, settings.api_key)
        except BaseException:
            super().server_close()
            raise

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake here, in the connection's own thread, so a stalled client never blocks accept()."""
        if self._tls is not None:
            request.settimeout(SOCKET_TIMEOUT_S)
            try:
                tls_socket = self._tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.info("tls handshake failed", extra={"error": type(exc).__name__})
                return
            # The plain socket is detached now; shutdown_request would close only that one.
            with tls_socket:
                super().finish_request(tls_socket, client_address)
            return
        super().finish_request(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        scheme = "https" if self.settings.certfile else "http"
        return f"{scheme}://{host!s}:{port}/"

    def server_close(self) -> None:
        super().server_close()
        self.bridge.close()


class _Handler(BaseHTTPRequestHandler):
    server: WebServer
    timeout = SOCKET_TIMEOUT_S  # a client that stops sending mid-request frees its thread
    protocol_version = "HTTP/1.1"
    server_version = "liveness-web"
    sys_version = ""

    _body_bytes = 0  # size of the request body read, for the access log (never its content)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's access log (it would go to stderr unstructured); see _log."""

    def _log(self, status: int, started: float) -> None:
        log.info(
            "http",
            extra={
                "method": self.command,
                "path": self.path.split("?", 1)[0][:200],
                "status": int(status),
                "body_bytes": self._body_bytes,
                "latency_ms": round((time.perf_counter() - started) * 1000.0, 1),
            },
        )

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"})

    def do_GET(self) -> None:
        started = time.perf_counter()
        self._body_bytes = 0
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send_json(HTTPStatus.OK, {"status": "ok"})
            status = HTTPStatus.OK
        elif path in self.server.static:
            body, content_type = self.server.static[path]
            self._send(HTTPStatus.OK, body, content_type, {"Cache-Control": "no-cache"})
            status = HTTPStatus.OK
        else:
            status = HTTPStatus.NOT_FOUND
            self._send_json(status, {"error": f"no such page: {path[:200]}", "code": "NOT_FOUND"})
        self._log(status, started)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        started = time.perf_counter()
        self._body_bytes = 0
        path = self.path.split("?", 1)[0]
        slot = self.server.slots.acquire(blocking=False)
        try:
            if not slot:
                raise _HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "too many checks at once; retry", "BUSY")
            if path == "/api/session":
                self._read_body(limit=4096)
                reply = session_json(self.server.bridge.create_session(), self.server.settings.capture)
            elif path == "/api/evaluate":
                raw = self._read_body(limit=self.server.settings.max_body_bytes, json_only=True)
                request = parse_evaluate(raw, self.server.settings.capture)
                response = self.server.bridge.evaluate(request.media, request.session_id, request.nonce)
                reply = result_json(response)
            else:
                raise _HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path[:200]}", "NOT_FOUND")
            status = HTTPStatus.OK
        except _HttpError as exc:
            status, reply = exc.status, {"error": exc.message, "code": exc.code}
        except InvalidInput as exc:
            status, reply = HTTPStatus.BAD_REQUEST, {"error": str(exc), "code": "INVALID_ARGUMENT"}
        except grpc.aio.AioRpcError as exc:
            status = HTTP_STATUS.get(exc.code(), HTTPStatus.BAD_GATEWAY)
            reply = {"error": exc.details() or exc.code().name, "code": exc.code().name}
        finally:
            if slot:
                self.server.slots.release()
        if status >= 400:
            # A body we did not read would be parsed as the next request on this connection.
            self.close_connection = True
        self._send_json(status, reply)
        self._log(status, started)

    def _read_body(self, limit: int, json_only: bool = False) -> bytes:
        if json_only:
            media_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                raise _HttpError(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the frames as application/json", "UNSUPPORTED"
                )
        if self.headers.get("Transfer-Encoding"):
            raise _HttpError(
                HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not chunks", "LENGTH_REQUIRED"
            )
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise _HttpError(
                HTTPStatus.BAD_REQUEST, "Content-Length: not a number", "INVALID_ARGUMENT"
            ) from None
        if length < 0:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "Content-Length: negative", "INVALID_ARGUMENT")
        if length > limit:
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body: {length} bytes exceeds the limit of {limit} bytes",
                "TOO_LARGE",
            )
        self._body_bytes = length
        return self.rfile.read(length)
