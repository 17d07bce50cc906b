"""OpenTelemetry spans of one Evaluate, through a real gateway and real test servers over loopback gRPC.

The SDK's in-memory exporter collects the spans of the gateway and of the two test doubles (one process, one
provider). The client sends a W3C traceparent; every span must belong to its trace and form the tree
Evaluate -> decode, face detection, one client span per test -> that test's server span -> check, fusion.
Log lines carry the trace id; with tracing off, the client's trace id still reaches the tests' logs.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from liveness.client import image_media
from liveness.runtime import logging as jsonlog
from liveness.runtime import tracing
from liveness.runtime.config import ServerSettings
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from tests.doubles import DoubleModel
from tests.reliability.harness import serve_gateway

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    jsonlog.configure("test", "INFO", stream)
    try:
        yield stream
    finally:
        logging.getLogger().handlers.clear()


async def _evaluate(astronaut_jpeg: bytes) -> pb.EvaluateResponse:
    backends = [(DoubleModel("iqa", score=0.9), 1.0), (DoubleModel("cnn2d", score=0.8, needs_face=True), 1.0)]
    async with (
        serve_gateway(backends, ServerSettings(port=0, grace_s=0)) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        return await pb_grpc.LivenessStub(channel).Evaluate(
            pb.EvaluateRequest(request_id="traced-1", media=image_media(astronaut_jpeg)),
            metadata=(("traceparent", TRACEPARENT),),
            timeout=10,
        )


def _hex(span_id: int) -> str:
    return format(span_id, "016x")


async def test_span_tree_of_one_evaluate(
    exporter: InMemorySpanExporter, log_lines: io.StringIO, astronaut_jpeg: bytes
) -> None:
    reply = await _evaluate(astronaut_jpeg)
    assert reply.decision == pb.DECISION_LIVE
    spans: list[ReadableSpan] = [
        s
        for s in exporter.get_finished_spans()
        if s.context and format(s.context.trace_id, "032x") == TRACE_ID
    ]
    by_name: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)

    def children(parent: ReadableSpan) -> set[str]:
        return {s.name for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id}

    (evaluate,) = by_name["liveness.v1.Liveness/Evaluate"]
    assert evaluate.kind == SpanKind.SERVER and _hex(evaluate.parent.span_id) == CLIENT_SPAN
    assert evaluate.attributes["rpc.grpc.status_code"] == "OK"
    assert evaluate.attributes["liveness.request_id"] == "traced-1"
    assert children(evaluate) == {
        "decode",
        "face detection",
        "LivenessTest/Check iqa",
        "LivenessTest/Check cnn2d",
        "fusion",
    }
    for test in ("iqa", "cnn2d"):
        (call,) = by_name[f"LivenessTest/Check {test}"]
        assert call.kind == SpanKind.CLIENT
        (served,) = [
            s for s in by_name["liveness.v1.LivenessTest/Check"] if s.parent.span_id == call.context.span_id
        ]
        assert served.kind == SpanKind.SERVER and children(served) == {"check"}
    # The gateway sent the face regions: no test detected faces again.
    assert all("face detection" not in children(s) for s in by_name["check"])
    # Every span of the request belongs to the client's trace; nothing of it started a trace of its own.
    assert len(spans) == len(exporter.get_finished_spans()) - len(
        [s for s in exporter.get_finished_spans() if "Describe" in s.name]
    )
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    done = [e for e in lines if e.get("msg") == "rpc done" and e.get("request_id") == "traced-1"]
    assert {e["rpc"] for e in done} == {"liveness.v1.Liveness/Evaluate", "liveness.v1.LivenessTest/Check"}
    assert all(e["trace_id"] == TRACE_ID and len(e["span_id"]) == 16 for e in done)


async def test_with_tracing_off_the_client_trace_id_still_reaches_the_tests_logs(
    log_lines: io.StringIO, astronaut_jpeg: bytes
) -> None:
    assert not tracing.enabled()
    assert tracing.span("x") is tracing.span("y")  # the shared no-op: nothing is allocated per span
    await _evaluate(astronaut_jpeg)
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    done = [e for e in lines if e.get("msg") == "rpc done" and e.get("request_id") == "traced-1"]
    assert len(done) == 3  # the gateway's Evaluate and one Check per test
    assert all(e["trace_id"] == TRACE_ID and "span_id" not in e for e in done)


def test_configure_from_env_is_off_without_an_endpoint() -> None:
    assert tracing.configure_from_env("gateway", {}) is False and not tracing.enabled()
    try:
        assert tracing.configure_from_env("gateway", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
        assert tracing.enabled()
    finally:
        tracing.uninstall()
