"""Offline library code raises the project's errors; only the commands turn them into click errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from liveness.calibrate import read_scores
from liveness.clierrors import click_errors
from liveness.data.samples import Sample
from liveness.errors import InvalidInput, Unavailable
from liveness.scoring import score_all, select


def _samples(n: int) -> list[Sample]:
    return [
        Sample(Path(f"{i}.jpg"), "live" if i % 2 else "spoof", "none" if i % 2 else "print", str(i), "image")
        for i in range(n)
    ]


def test_scoring_raises_invalid_input_not_click_errors() -> None:
    with pytest.raises(InvalidInput, match="limit must be >= 1, got 0"):
        select(_samples(4), 0, seed=0)

    async def never(sample: Sample) -> object:
        raise AssertionError("not called")

    with pytest.raises(InvalidInput, match="concurrency must be >= 1"):
        asyncio.run(score_all(_samples(2), never, 0, progress=False))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,cnn2d\na.jpg,0.5\n", "needs a label column"),
        ("label,cnn2d\nmaybe,0.5\n", "line 2: label 'maybe' is neither live nor spoof"),
        ("label,cnn2d\nlive,1.5\n", "line 2: cnn2d score 1.5 is not in"),
        ("label,cnn2d\nlive,high\n", "line 2: cnn2d score high is not in"),
    ],
)
def test_calibration_scores_raise_invalid_input(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        read_scores(path)


@pytest.mark.parametrize(
    ("error", "code", "shown"),
    [(InvalidInput("bad --thing"), 2, "Error: bad --thing"), (Unavailable("local stack: down"), 1, "down")],
)
def test_commands_turn_project_errors_into_click_errors(error: Exception, code: int, shown: str) -> None:
    @click.command()
    @click_errors()
    def command() -> None:
        raise error

    result = CliRunner().invoke(command, [])
    assert result.exit_code == code and shown in result.output
    assert not isinstance(result.exception, type(error))  # handled: click's SystemExit, no traceback
