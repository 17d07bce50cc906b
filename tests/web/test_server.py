"""The HTTP -> gRPC bridge (`liveness web`) against a real gateway of test doubles, over real HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from liveness.security import make_dev_ca
from liveness.vision.decode import encode_jpeg
from liveness.web import WebServer, WebSettings, cli


def post(url: str, payload: Any = None, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    data = (
        b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    )
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def frames_of(image: np.ndarray, count: int = 12, interval_ms: int = 125) -> list[dict[str, Any]]:
    jpeg = base64.b64encode(encode_jpeg(image)).decode()
    return [{"jpeg": jpeg, "timestamp_ms": i * interval_ms} for i in range(count)]


def test_page_and_assets_are_served_with_security_headers(web_url: str) -> None:
    with urllib.request.urlopen(web_url, timeout=10) as reply:
        html = reply.read().decode()
        assert reply.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert 'id="start"' in html and "/static/app.js" in html
    with urllib.request.urlopen(web_url + "static/app.js", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/javascript")
        assert b"getUserMedia" in reply.read()


@pytest.mark.parametrize("path", ["static/../__init__.py", "static/bridge.py", "../pyproject.toml", "nope"])
def test_unknown_paths_are_404(web_url: str, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(web_url + path, timeout=10)
    info.value.close()
    assert info.value.code == 404


def test_session_then_evaluate_then_replay(web_url: str, astronaut: np.ndarray) -> None:
    status, session = post(web_url + "api/session")
    assert status == 200
    assert len(session["challenge"]) == 2 and all(c["prompt"] for c in session["challenge"])
    assert len(session["flash"]) == 6 and all(s["color"].startswith("#") for s in session["flash"])
    body = {"session_id": session["session_id"], "nonce": session["nonce"], "frames": frames_of(astronaut)}
    status, result = post(web_url + "api/evaluate", body)
    assert status == 200, result
    # Doubles verify no challenge and a still photo does not follow the flash: never live.
    assert result["decision"] in ("spoof", "uncertain")
    assert {t["name"]: t["status"] for t in result["tests"]} == {"frame": "ok", "clip": "ok"}
    assert result["session"]["challenge_satisfied"] is False
    status, again = post(web_url + "api/evaluate", body)
    assert status == 409 and again["code"] == "FAILED_PRECONDITION", again


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "code", "message"),
    [
        (
            {"frames": [{"jpeg": base64.b64encode(b"junk").decode(), "timestamp_ms": 0}]},
            "application/json",
            400,
            "INVALID_ARGUMENT",
            "frame",
        ),
        ({"frames": []}, "application/json", 400, "INVALID_ARGUMENT", "non-empty list"),
        (b"{", "application/json", 400, "INVALID_ARGUMENT", "not valid JSON"),
        ({"frames": []}, "text/plain", 415, "UNSUPPORTED", "application/json"),
    ],
)
def test_bad_input_is_a_4xx_with_the_reason(
    web_url: str, payload: Any, content_type: str, status: int, code: str, message: str
) -> None:
    got, reply = post(web_url + "api/evaluate", payload, content_type)
    assert (got, reply["code"]) == (status, code), reply
    assert message in reply["error"]


def test_forged_session_is_forbidden(web_url: str, astronaut: np.ndarray) -> None:
    body = {"session_id": "a.1.b", "nonce": "n", "frames": frames_of(astronaut, count=4)}
    status, reply = post(web_url + "api/evaluate", body)
    assert status in (403, 409) and reply["code"] in ("PERMISSION_DENIED", "FAILED_PRECONDITION"), reply


def test_oversized_body_is_refused_before_reading(web_url: str) -> None:
    host, port = web_url.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/api/evaluate")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()
    reply = conn.getresponse()
    assert reply.status == 413
    assert "exceeds the limit" in json.loads(reply.read())["error"]
    conn.close()


@pytest.fixture
def in_process(gateway_address: str) -> Iterator[WebServer]:
    web = WebServer(WebSettings(gateway=gateway_address, port=0))
    thread = threading.Thread(target=web.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        web.shutdown()
        web.server_close()
        thread.join(5)


def test_logs_carry_no_image_bytes(
    in_process: WebServer, astronaut: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    frames = frames_of(astronaut, count=3)
    with caplog.at_level(logging.INFO, logger="liveness.web"):
        status, _ = post(in_process.url + "api/evaluate", {"frames": frames})
        deadline = time.monotonic() + 5.0  # the line is written after the reply is sent
        while not (lines := [r for r in caplog.records if r.name == "liveness.web"]):
            assert time.monotonic() < deadline, "no access log line"
            time.sleep(0.02)
    assert status == 200
    assert [(r.getMessage(), r.__dict__["path"], r.__dict__["status"]) for r in lines] == [
        ("http", "/api/evaluate", 200)
    ]
    assert lines[0].__dict__["body_bytes"] > 3 * len(frames[0]["jpeg"])
    marker = frames[0]["jpeg"][100:140]
    assert all(marker not in json.dumps(r.__dict__, default=str) for r in caplog.records)


def test_https_with_a_dev_certificate(gateway_address: str, tmp_path: Path) -> None:
    ca = make_dev_ca(tmp_path, ["web"])
    cert, key = ca.certs["web"]
    web = WebServer(WebSettings(gateway=gateway_address, port=0, certfile=cert, keyfile=key))
    thread = threading.Thread(target=web.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert web.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(ca.ca_cert))
        with urllib.request.urlopen(web.url, timeout=10, context=context) as reply:
            assert reply.status == 200 and b'id="start"' in reply.read()
        with pytest.raises(OSError):  # plain HTTP to the TLS port gets no page
            urllib.request.urlopen(web.url.replace("https", "http"), timeout=10).close()
    finally:
        web.shutdown()
        web.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-frames", "100"], "max_frames"),
        (["--max-body-mb", "0"], "max_body_bytes"),
        (["--port", "70000"], "port"),
        (["--max-concurrent", "0"], "max_concurrent"),
    ],
)
def test_cli_rejects_bad_settings_before_starting(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--gateway", "127.0.0.1:1", *args])
    assert result.exit_code == 2 and message in result.output


def test_busy_server_answers_503(in_process: WebServer) -> None:
    taken = 0
    while in_process.slots.acquire(blocking=False):
        taken += 1
    try:
        status, reply = post(in_process.url + "api/session")
        assert (status, reply["code"]) == (503, "BUSY")
    finally:
        for _ in range(taken):
            in_process.slots.release()
    assert post(in_process.url + "api/session")[0] == 200
