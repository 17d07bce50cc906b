"""`liveness eval` end to end against real loopback servers whose scores are image brightness.

Data set (manifest, uniform grey JPEGs; score = grey / 255):

    file         label  attack  split  grey  score
    live/a.jpg   live   none    dev    200   .784
    live/b.jpg   live   none    dev    180   .706
    live/c.jpg   live   none    test   160   .627
    live/v.mp4   live   none    test   170   ~.65  (video: one clip; the codec shifts grey a little)
    live/bad.jpg live   none    test   -     unreadable -> INVALID_ARGUMENT -> error
    spoof/p.jpg  spoof  print   dev     60   .235
    spoof/r.jpg  spoof  replay  test   100   .392
    spoof/s.jpg  spoof  replay  test   140   .549
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from liveness.data.samples import Sample
from liveness.evaluate import cli
from liveness.runtime.testing import serve_model
from liveness.scoring import select
from liveness.vision.decode import encode_jpeg

from .doubles import BrightnessModel, start_gateway

ROWS = [
    ("live/a.jpg", "live", "none", "dev", 200),
    ("live/b.jpg", "live", "none", "dev", 180),
    ("live/c.jpg", "live", "none", "test", 160),
    ("live/v.mp4", "live", "none", "test", 170),
    ("live/bad.jpg", "live", "none", "test", -1),
    ("spoof/p.jpg", "spoof", "print", "dev", 60),
    ("spoof/r.jpg", "spoof", "replay", "test", 100),
    ("spoof/s.jpg", "spoof", "replay", "test", 140),
]


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    for rel, _, _, _, grey in ROWS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if grey < 0:
            path.write_bytes(b"\xff\xd8 not really a jpeg")
        elif path.suffix == ".mp4":
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 64))
            for _ in range(6):
                writer.write(np.full((64, 64, 3), grey, np.uint8))
            writer.release()
        else:
            path.write_bytes(encode_jpeg(np.full((64, 64, 3), grey, np.uint8)))
    lines = ["path,label,attack,split"] + [f"{r},{lab},{att},{sp}" for r, lab, att, sp, _ in ROWS]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


async def _invoke(args: list[str]) -> dict:
    # The command runs its own event loop, so it runs in a thread while the server lives on this loop.
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


async def test_eval_one_test(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    async with serve_model(BrightnessModel()) as address:
        await _invoke(
            ["--data", str(manifest), "--test", "bright", "--address", address, "--out", str(out), "--quiet"]
        )
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["name"] == "bright" and report["target"]["version"] == "bright-1"
    assert report["target"]["threshold_source"] == "the test's recommended threshold"
    assert report["threshold"] == pytest.approx(0.5)  # the test's recommended threshold
    assert report["counts"]["by_status"] == {"ok": 7, "error": 1}
    scores = report["scores"]
    # 7 scored: live .784 .706 .627 .667, attacks .235 .392 .549 -> perfectly separated.
    assert scores["n_scored"] == 7
    assert scores["auc"] == pytest.approx(1.0)
    assert scores["eer"] == pytest.approx(0.0)
    # At 0.5: print .235 rejected (0), replay .392 rejected, .549 accepted (1/2); all 4 live accepted.
    at = scores["at_threshold"]
    assert at["apcer_by_species"] == pytest.approx({"print": 0.0, "replay": 0.5})
    assert at["bpcer"] == pytest.approx(0.0)
    assert at["acer"] == pytest.approx(0.25)
    # Decisions also count the unreadable live file as a rejection: BPCER 1/5.
    assert report["decisions"]["bpcer"] == pytest.approx(0.2)
    # dev EER threshold: dev live {.784,.706}, attack {.235} -> lowest zero-gap threshold .706;
    # on test at .706: live .627 and .667 are rejected (BPCER 2/2 scored), replay .392 and .549 too (APCER 0).
    hter = report["hter"]
    assert hter["dev_split"] == "dev"
    assert hter["threshold"] == pytest.approx(180 / 255, abs=0.01)
    assert hter["bpcer"] == pytest.approx(1.0) and hter["apcer_pooled"] == pytest.approx(0.0)
    assert hter["hter"] == pytest.approx(0.5)
    # Per split: dev has live .784 .706 and print .235 (AUC 1); test has 2 live, 2 replay, also separable.
    assert set(report["by_split"]) == {"dev", "test"}
    assert report["by_split"]["dev"]["n_scored"] == 3 and report["by_split"]["test"]["n_scored"] == 4
    assert report["by_split"]["test"]["auc"] == pytest.approx(1.0)
    rows = {r["path"]: r for r in report["samples"]}
    assert rows["live/v.mp4"]["kind"] == "video" and rows["live/v.mp4"]["score"] == pytest.approx(
        170 / 255, abs=0.03
    )
    assert rows["live/bad.jpg"]["status"] == "error" and "INVALID_ARGUMENT" in rows["live/bad.jpg"]["error"]
    markdown = (out / "report.md").read_text()
    assert "| APCER replay | 50.00% |" in markdown and "HTER" in markdown
    for png in ("det.png", "roc.png", "histogram.png"):
        assert (out / png).stat().st_size > 1000, png


async def test_eval_gateway_counts_uncertain_as_rejection(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "gw"
    server, address = await start_gateway()
    try:
        await _invoke(
            [
                "--data",
                str(manifest),
                "--gateway",
                address,
                "--out",
                str(out),
                "--quiet",
                "--no-plots",
                "--concurrency",
                "3",
            ]
        )
    finally:
        await server.stop(0)
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["kind"] == "gateway"
    # Decisions: live .784 .706 .627 .667 -> LIVE; bad -> error; print .235 SPOOF; replay .392 SPOOF,
    # .549 UNCERTAIN (a rejection). BPCER = 1/5 (the error), APCER = 0 for both species.
    assert report["counts"]["by_decision"] == {"live": 4, "spoof": 2, "uncertain": 1, "none": 1}
    decisions = report["decisions"]
    assert decisions["bpcer"] == pytest.approx(0.2)
    assert decisions["apcer_by_species"] == pytest.approx({"print": 0.0, "replay": 0.0})
    # Scores only from conclusive answers: 6 (the uncertain .549 and the error are left out).
    assert report["scores"]["n_scored"] == 6
    assert report["per_test"]["bright"]["n_ok"] == 7
    assert report["per_test"]["bright"]["auc"] == pytest.approx(1.0)
    assert "plots" not in report


async def test_eval_limit_and_split(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "dev"
    async with serve_model(BrightnessModel()) as address:
        await _invoke(
            [
                "--data",
                str(manifest),
                "--test",
                "bright",
                "--address",
                address,
                "--out",
                str(out),
                "--split",
                "dev",
                "--quiet",
                "--no-plots",
            ]
        )
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["samples"] == 3 and report["hter"] is None


def _labelled(n_live: int, n_spoof: int) -> list[Sample]:
    return [
        Sample(
            path=Path(f"{i}.jpg"),
            label=label,
            attack="none" if label == "live" else "replay",
            subject="s",
            kind="image",
        )
        for i, label in enumerate(["live"] * n_live + ["spoof"] * n_spoof)
    ]


def test_select_is_seeded_stratified_and_keeps_order() -> None:
    items = _labelled(3, 71)  # replay-dev's imbalance
    chosen = select(items, 6, seed=1)
    # live share 3/74 * 6 = 0.24 -> at least 1; spoof gets the other 5.
    assert Counter(s.label for s in chosen) == {"live": 1, "spoof": 5}
    assert [s.path for s in chosen] == sorted((s.path for s in chosen), key=lambda p: int(p.stem))
    assert select(items, 6, seed=1) == chosen
    assert select(items, None, seed=1) == items
    assert Counter(s.label for s in select(_labelled(10, 10), 7, seed=0)) == {"live": 4, "spoof": 3}
    assert len(select(_labelled(10, 10), 1, seed=0)) == 1


def test_usage_errors(manifest: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(
        cli, ["--data", str(manifest), "--gateway", "x:1", "--test", "t", "--out", str(tmp_path)]
    )
    assert both.exit_code == 2 and "not both" in both.output
    empty = tmp_path / "empty"
    empty.mkdir()
    unknown = runner.invoke(cli, ["--data", str(empty), "--gateway", "x:1", "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "unknown data set layout" in unknown.output
