"""`liveness bench` against real loopback servers, with budgets small enough to finish in about a second."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from liveness.bench import cli as bench_cli
from liveness.bench import percentiles, run_baseline
from liveness.runtime.testing import serve_model
from liveness.vision.decode import encode_jpeg
from tests.doubles import DoubleModel

from .doubles import BrightnessModel, start_gateway


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "grey.jpg"
    path.write_bytes(encode_jpeg(np.full((64, 64, 3), 200, np.uint8)))
    return path


async def _bench(args: list[str]) -> dict:
    result = await asyncio.to_thread(CliRunner().invoke, bench_cli, [*args, "--json", "-"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.output)


async def test_bench_test_service_stops_at_the_request_budget(image: Path) -> None:
    # A 20 ms model, 2 workers, 12 requests: the request budget ends the run long before the 30 s one.
    async with serve_model(DoubleModel(delay_s=0.02)) as address:
        report = await _bench(
            [
                "--target",
                address,
                "--media",
                str(image),
                "-c",
                "2",
                "--requests",
                "12",
                "--duration",
                "30",
                "--warmup",
                "1",
            ]
        )
    load = report["load"]
    assert report["service"] == {"rpc": "LivenessTest.Check", "name": "double", "version": "double-1"}
    assert load["requests"] == 12 and load["ok"] == 12 and load["errors"] == {}
    assert load["statuses"] == {"ok": 12}
    assert load["elapsed_s"] < 10
    lat = load["latency_ms"]
    assert 20 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert load["server_ms"]["p50"] >= 20  # the servicer's own measure includes the model's sleep
    assert load["throughput_rps"] == pytest.approx(12 / load["elapsed_s"])


async def test_bench_stops_at_the_time_budget_and_compares_a_baseline(image: Path) -> None:
    # A 0.05 s baseline that reports its own latency_ms; the time budget (0.3 s) ends the load.
    baseline = f"{sys.executable} -c \"print('latency_ms=50.0')\""
    async with serve_model(DoubleModel(delay_s=0.01)) as address:
        report = await _bench(
            [
                "--target",
                address,
                "--media",
                str(image),
                "--requests",
                "100000",
                "--duration",
                "0.3",
                "--warmup",
                "0",
                "--baseline-cmd",
                baseline,
                "--baseline-runs",
                "2",
            ]
        )
    load = report["load"]
    assert load["requests"] < 100000 and 0.3 <= load["elapsed_s"] < 3
    assert report["baseline"]["runs_ms"] == [50.0, 50.0]
    assert report["baseline"]["source"] == "reported latency_ms"
    assert report["ratio_p50_to_baseline"] == pytest.approx(load["latency_ms"]["p50"] / 50.0)


async def test_bench_gateway_and_table(image: Path) -> None:
    server, address = await start_gateway()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            bench_cli,
            ["--target", address, "--gateway", "--media", str(image), "--requests", "5"],
        )
    finally:
        await server.stop(0)
    assert result.exit_code == 0, result.output
    assert "Liveness.Evaluate" in result.output
    assert "5 ok, 0 failed" in result.output
    assert "{'live': 5}" in result.output  # grey 200 is bright: the double gateway says LIVE


async def test_bench_sends_faces_when_asked(tmp_path: Path) -> None:
    from skimage import data

    path = tmp_path / "astronaut.jpg"
    path.write_bytes(encode_jpeg(data.astronaut()))
    model = DoubleModel(needs_face=True)
    async with serve_model(model) as address:
        report = await _bench(
            ["--target", address, "--media", str(path), "--requests", "2", "--warmup", "0", "--faces"]
        )
    assert report["media"]["faces_sent"] is True
    assert report["load"]["statuses"] == {"ok": 2}
    assert model.calls and model.calls[-1].faces[0].count == 1


async def test_failed_calls_are_counted(image: Path) -> None:
    async with serve_model(BrightnessModel()) as address:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            bench_cli,
            [
                "--target",
                address,
                "--gateway",
                "--media",
                str(image),
                "--requests",
                "3",
                "--warmup",
                "0",
                "--json",
                "-",
            ],
        )
    # A test service has no Liveness.Evaluate: every call fails UNIMPLEMENTED, and the run exits non-zero.
    assert result.exit_code == 1
    report = json.loads(result.output[: result.output.rindex("}") + 1])
    assert report["load"]["errors"] == {"UNIMPLEMENTED": 3} and report["load"]["ok"] == 0


def test_percentiles_by_hand() -> None:
    # 1..100 ms: numpy's linear percentiles p50 = 50.5, p95 = 95.05, p99 = 99.01
    stats = percentiles([float(v) for v in range(1, 101)])
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p95"] == pytest.approx(95.05)
    assert stats["p99"] == pytest.approx(99.01)
    assert (stats["min"], stats["max"], stats["mean"]) == (1.0, 100.0, 50.5)
    assert percentiles([]) == {}


def test_baseline_wall_time_and_failure() -> None:
    quiet = run_baseline(f'{sys.executable} -c "import time; time.sleep(0.05)"', runs=1, timeout_s=30)
    assert quiet.source == "wall time" and quiet.runs_ms[0] >= 50
    with pytest.raises(Exception, match="exited with 3"):
        run_baseline(f'{sys.executable} -c "raise SystemExit(3)"', runs=1, timeout_s=30)
