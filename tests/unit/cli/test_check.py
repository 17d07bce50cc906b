"""`liveness check --json`: one JSON object per input, one per line, in the documented shape."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from liveness.cli import main
from liveness.stack import warm_up_index
from tests.doubles import DoubleModel
from tests.integration.test_gateway import gateway

KEYS = {"path", "decision", "score", "degraded", "elapsed_ms", "tests"}


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "liveness",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_check_json_lines(tmp_path: Path, astronaut_jpeg: bytes, plain_jpeg: bytes) -> None:
    (tmp_path / "a.jpg").write_bytes(astronaut_jpeg)
    (tmp_path / "b.jpg").write_bytes(plain_jpeg)
    models = [DoubleModel("iqa", score=0.2), DoubleModel("cnn2d", hang=True)]
    async with gateway(models, budget_ms=700) as address:
        code, out, err = await run_cli("check", "--json", "--gateway", address, str(tmp_path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [Path(line["path"]).name for line in lines] == ["a.jpg", "b.jpg"]
    for line in lines:
        assert set(line) == KEYS
        assert line["decision"] == "spoof" and line["degraded"] is True
        assert line["score"] == 0.2 and isinstance(line["elapsed_ms"], float)
        assert line["tests"]["iqa"] == {
            "score": 0.2,
            "status": "ok",
            "latency_ms": line["tests"]["iqa"]["latency_ms"],
        }
        assert line["tests"]["cnn2d"]["status"] == "timeout"


async def test_check_reports_bad_files_and_fails(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    async with gateway([DoubleModel("iqa")]) as address:
        code, out, _ = await run_cli("check", "--json", "--gateway", address, str(tmp_path / "broken.jpg"))
    assert code == 1
    line = json.loads(out)
    assert line["path"].endswith("broken.jpg") and "not a JPEG" in line["error"]


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("check", "serve", "up", "train"):
        assert command in result.output


async def test_a_warm_up_input_is_sent_first_and_not_printed(
    tmp_path: Path, astronaut_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    from liveness.cli import _check_all

    (tmp_path / "a.jpg").write_bytes(astronaut_jpeg)
    model = DoubleModel("iqa", score=0.2)
    async with gateway([model]) as address:
        failures = await _check_all(address, [tmp_path / "a.jpg"], 16, True, 10.0, warm_up=tmp_path / "a.jpg")
    assert failures == 0 and len(model.calls) == 2  # the warm-up, then the input
    assert [json.loads(line)["decision"] for line in capsys.readouterr().out.splitlines()] == ["spoof"]


def test_the_warm_up_is_the_first_video_else_the_first_input() -> None:
    assert warm_up_index([False, True, False, True]) == 1
    assert warm_up_index([False, False]) == 0
