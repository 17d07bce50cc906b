"""`liveness eval --protocol` and the domain tagging it shares with training, on a tiny generated data root.

Data root (uniform grey images; the doubles score brightness = grey / 255):

    nuaa/  (file names ID_glasses_pos_session_n.jpg)
      session 01: live 0001 200 (.784), live 0002 180 (.706); print 0001 60 (.235), print 0002 100 (.392)
      session 02: live 0001 150 (.588), live 0003 110 (.431); print 0001 120 (.471), print 0003  90 (.353)
    replay-more/manifest.csv
      a/: live 210 (.824); replay 170 (.667), replay 130 (.510)
      b/: print 40 (.157)   (attacks only)

The test double accepts score >= 0.5; the gateway double decides LIVE >= .6, UNCERTAIN [.45, .6), SPOOF below.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from liveness.data.protocols import domain_of, tagged_samples
from liveness.data.samples import Sample
from liveness.errors import InvalidInput
from liveness.eval_protocol import SERVED_MODELS_NOTE, mean_row
from liveness.evaluate import cli
from liveness.runtime.testing import serve_model
from liveness.vision.decode import encode_jpeg

from .doubles import BrightnessModel, start_gateway

NUAA = [
    ("live", "0001", "01", 200),
    ("live", "0002", "01", 180),
    ("spoof", "0001", "01", 60),
    ("spoof", "0002", "01", 100),
    ("live", "0001", "02", 150),
    ("live", "0003", "02", 110),
    ("spoof", "0001", "02", 120),
    ("spoof", "0003", "02", 90),
]
REPLAY_MORE = [
    ("a/live/0.png", "live", "none", 210),
    ("a/spoof/0.png", "spoof", "replay", 170),
    ("a/spoof/1.png", "spoof", "replay", 130),
    ("b/spoof/0.png", "spoof", "print", 40),
]


def _grey(grey: int) -> np.ndarray:
    return np.full((48, 48, 3), grey, np.uint8)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for i, (label, subject, session, grey) in enumerate(NUAA):
        path = data / "nuaa" / label / subject / f"{subject}_00_00_{session}_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_jpeg(_grey(grey)))
    more = data / "replay-more"
    for rel, _, _, grey in REPLAY_MORE:
        (more / rel).parent.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", _grey(grey))
        assert ok
        (more / rel).write_bytes(png.tobytes())
    rows = [f"{rel},{label},image,{attack},{rel.split('/')[0]}" for rel, label, attack, _ in REPLAY_MORE]
    (more / "manifest.csv").write_text("\n".join(["path,label,kind,attack,source", *rows]) + "\n")
    return data


def test_every_sample_is_tagged_with_its_domain_and_subject(root: Path) -> None:
    tagged = tagged_samples(root)
    got = sorted((t.sample.dataset, t.domain, t.subject, t.sample.label) for t in tagged)
    want = sorted(
        [("nuaa", f"nuaa/s{session}", subject, label) for label, subject, session, _ in NUAA]
        + [
            ("replay-more", f"replay-more/{rel[0]}", f"replay-more/{rel[0]}", label)
            for rel, label, _, _ in REPLAY_MORE
        ]
    )
    assert got == want
    # One data set folder on its own is a data root too, with the same domains.
    assert {t.domain for t in tagged_samples(root / "nuaa")} == {"nuaa/s01", "nuaa/s02"}
    assert {t.domain for t in tagged_samples(root / "replay-more")} == {"replay-more/a", "replay-more/b"}


def test_untaggable_samples_and_empty_roots_are_named(root: Path, tmp_path: Path) -> None:
    no_session = Sample(Path("x/1.jpg"), "live", "none", "1", "image", dataset="nuaa", extra={"session": ""})
    with pytest.raises(InvalidInput, match="1.jpg: no session"):
        domain_of(no_session, Path("x"))
    loose = Sample(root / "replay-more" / "0.png", "live", "none", "s", "image", dataset="replay-more")
    with pytest.raises(InvalidInput, match="person or source folder"):
        domain_of(loose, root / "replay-more")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="none of nuaa/"):
        tagged_samples(tmp_path / "empty")


async def _invoke(args: list[str]) -> Result:
    # The command runs its own event loop, so it runs in a thread while the server lives on this loop.
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _rows(report: dict) -> dict[str, dict]:
    return {f["fold"]: f["row"] for f in report["folds"]}


async def test_cross_session_scores_each_held_out_session_once_with_its_own_figures(
    root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    args = ["--protocol", "cross-session", "--data", str(root), "--out", str(out)]
    async with serve_model(BrightnessModel()) as address:
        result = await _invoke([*args, "--test", "bright", "--address", address, "--quiet"])
    report = json.loads((out / "report.json").read_text())
    assert [f["fold"] for f in report["folds"]] == ["nuaa/s01", "nuaa/s02"]
    # Only the held-out NUAA images were scored (once each); replay-more is training side in both folds.
    assert report["config"]["samples"] == 12 and report["config"]["scored_samples"] == 8
    assert len(report["samples"]) == 8
    for row in report["samples"]:
        assert row["fold"] == row["domain"] and f"_{row['domain'][-2:]}_" in row["path"]
    s01, s02 = report["folds"]
    assert s01["test_domains"] == ["nuaa/s01"]
    assert s01["train_domains"] == ["nuaa/s02", "replay-more/a", "replay-more/b"]
    rows = _rows(report)
    # s01: live .784 .706, prints .235 .392: all right at 0.5, perfectly ranked.
    assert rows["nuaa/s01"]["live"] == 2 and rows["nuaa/s01"]["attacks"] == {"print": 2}
    assert rows["nuaa/s01"]["apcer_by_species"] == {"print": 0.0}
    assert (rows["nuaa/s01"]["bpcer"], rows["nuaa/s01"]["acer"]) == (0.0, 0.0)
    assert rows["nuaa/s01"]["auc"] == pytest.approx(1.0) and rows["nuaa/s01"]["eer"] == pytest.approx(0.0)
    # s02: live .588 .431, prints .471 .353: live .431 rejected (BPCER 1/2), no print accepted; the print
    # at .471 outranks live .431 (AUC 3/4) and the curves cross at APCER = BPCER = 1/2.
    assert rows["nuaa/s02"]["apcer_by_species"] == {"print": 0.0}
    assert rows["nuaa/s02"]["bpcer"] == pytest.approx(0.5) and rows["nuaa/s02"]["acer"] == pytest.approx(0.25)
    assert rows["nuaa/s02"]["auc"] == pytest.approx(0.75) and rows["nuaa/s02"]["eer"] == pytest.approx(0.5)
    mean = report["mean"]
    assert mean["n_folds"] == 2 and mean["live"] == 4 and mean["attacks"] == {"print": 4}
    assert mean["acer"] == pytest.approx(0.125) and mean["auc"] == pytest.approx(0.875)
    assert mean["eer"] == pytest.approx(0.25) and mean["bpcer"] == pytest.approx(0.25)
    assert result.stdout == ""  # --quiet: no table on stdout
    markdown = (out / "report.md").read_text()
    assert SERVED_MODELS_NOTE in markdown
    # In brackets, each fold's 95 % bootstrap interval: s01 separates perfectly in every resample; s02's
    # two live faces resampled can both be the rejected .431, its prints both the .471 above it.
    s01 = "| nuaa/s01 | 2 | 2 | 0.00% | 0.00% | 0.00% (0.0-0.0 %) | 1.0000 (1.000-1.000) | 0.00% |"
    s02 = "| nuaa/s02 | 2 | 2 | 0.00% | 50.00% | 25.00% (0.0-50.0 %) | 0.7500 (0.000-1.000) | 50.00% |"
    assert s01 in markdown and s02 in markdown
    assert rows["nuaa/s02"]["acer_ci"] == [0.0, 0.5] and rows["nuaa/s02"]["auc_ci"] == [0.0, 1.0]
    assert "| **mean of 2** | 4 | 4 | 0.00% | 25.00% | 12.50% | 0.8750 | 25.00% |" in markdown
    for fold in ("nuaa-s01", "nuaa-s02"):
        assert (out / "folds" / fold / "det.png").stat().st_size > 1000
        assert "# Evaluation: bright" in (out / "folds" / fold / "report.md").read_text()
    fold_md = (out / "folds" / "nuaa-s02" / "report.md").read_text()
    assert "| AUC | 0.7500 (0.000-1.000) |" in fold_md and "| ACER 95 % interval | 0.0-50.0 % |" in fold_md
    assert "| BPCER 95 % interval | 9.5-90.5 % |" in fold_md  # Wilson, 1 of 2
    assert (out / "det.png").stat().st_size > 1000 and report["plots"] == ["det.png"]


async def test_cross_source_through_the_gateway_rejects_uncertain_and_skips_missing_figures(
    root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gw"
    server, address = await start_gateway()
    try:
        result = await _invoke(
            ["--protocol", "cross-source", "--data", str(root), "--out", str(out), "--gateway", address]
            + ["--no-plots", "--concurrency", "3"]
        )
    finally:
        await server.stop(0)
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["kind"] == "gateway"
    assert [f["fold"] for f in report["folds"]] == ["nuaa", "replay-more/a", "replay-more/b"]
    assert report["folds"][0]["test_domains"] == ["nuaa/s01", "nuaa/s02"]
    assert report["config"]["scored_samples"] == 12
    rows = _rows(report)
    # NUAA: live .784 .706 LIVE, .588 UNCERTAIN and .431 SPOOF (both rejections: BPCER 1/2); prints all
    # SPOOF or UNCERTAIN (.471). Conclusive scores: live .784 .706 .431 above prints .235 .392 .353.
    assert rows["nuaa"]["bpcer"] == pytest.approx(0.5) and rows["nuaa"]["apcer_by_species"] == {"print": 0.0}
    assert rows["nuaa"]["auc"] == pytest.approx(1.0) and rows["nuaa"]["scored"] == 6
    # a: live .824 LIVE; replay .667 LIVE (accepted), .510 UNCERTAIN (rejected): APCER replay 1/2.
    assert rows["replay-more/a"]["live"] == 1 and rows["replay-more/a"]["attacks"] == {"replay": 2}
    assert rows["replay-more/a"]["apcer_by_species"] == {"replay": 0.5}
    assert rows["replay-more/a"]["acer"] == pytest.approx(0.25)
    # b holds attacks only: no BPCER, AUC or EER; its count still shows.
    b = rows["replay-more/b"]
    assert b["live"] == 0 and b["attacks"] == {"print": 1}
    assert (b["bpcer"], b["acer"], b["auc"], b["eer"], b["apcer_by_species"]) == (None, None, None, None, {})
    mean = report["mean"]
    assert mean["live"] == 5 and mean["attacks"] == {"print": 5, "replay": 2}
    assert mean["apcer_by_species"] == {"print": 0.0, "replay": 0.5}
    assert mean["acer"] == pytest.approx(0.25) and mean["bpcer"] == pytest.approx(0.25)
    assert mean["auc"] == pytest.approx(1.0)
    assert mean["folds_with"] == {
        "apcer print": 1,
        "apcer replay": 1,
        "bpcer": 2,
        "acer": 2,
        "auc": 2,
        "eer": 2,
    }
    # The table goes to stdout, one row per fold and the mean.
    assert "| replay-more/a | 1 | 0 | 2 | n/a | 50.00% | 0.00% | 25.00% | 1.0000 | 0.00% |" in result.stdout
    assert "| replay-more/b | 0 | 1 | 0 | n/a | n/a | n/a | n/a | n/a | n/a |" in result.stdout
    assert (
        "| **mean of 3** | 5 | 5 | 2 | 0.00% (1 of 3) | 50.00% (1 of 3) | 25.00% (2 of 3) | 25.00% (2 of 3) "
        "| 1.0000 (2 of 3) | 0.00% (2 of 3) |"
    ) in result.stdout
    assert "decisions: unavailable (no bona fide" in (out / "report.md").read_text()
    assert not (out / "det.png").exists()


async def test_one_fold_with_a_limit(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "one"
    async with serve_model(BrightnessModel()) as address:
        await _invoke(
            ["--protocol", "cross-session-subject", "--data", str(root), "--out", str(out), "--quiet"]
            + ["--test", "bright", "--address", address, "--fold", "nuaa/s01/people1", "--limit", "1"]
            + ["--no-plots"]
        )
    report = json.loads((out / "report.json").read_text())
    # People 0001, 0002, 0003 are dealt into three groups: people1 = 0001, who has one live and one print
    # in session 01; --limit 1 keeps one of them.
    (fold,) = report["folds"]
    assert fold["fold"] == "nuaa/s01/people1" and report["config"]["folds"] == ["nuaa/s01/people1"]
    assert fold["train_domains"] == ["nuaa/s02", "replay-more/a", "replay-more/b"]
    assert [r["path"].split("/")[2] for r in report["samples"]] == ["0001"]
    assert report["config"]["scored_samples"] == 1


def test_protocol_usage_errors(root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--data", str(root), "--out", str(tmp_path / "x"), "--gateway", "127.0.0.1:1"]
    cases = [
        (["--protocol", "cross-session", "--split", "test"], "--split does not apply"),
        (["--fold", "nuaa/s01"], "--fold needs --protocol"),
        (["--protocol", "cross-session", "--fold", "nuaa/s03"], "nuaa/s03: not a fold of cross-session"),
        (["--protocol", "nope"], "Invalid value for '--protocol'"),
    ]
    for extra, message in cases:
        result = runner.invoke(cli, [*base, *extra])
        assert result.exit_code == 2 and message in result.output, (extra, result.output)
    only_more = [
        "--data",
        str(root / "replay-more"),
        "--out",
        str(tmp_path / "y"),
        "--gateway",
        "127.0.0.1:1",
    ]
    result = runner.invoke(cli, [*only_more, "--protocol", "cross-session"])
    assert result.exit_code == 2 and "none of the domains it tests on" in result.output


def test_mean_row_averages_each_figure_over_the_folds_that_have_it() -> None:
    rows = [
        {"live": 2, "attacks": {"print": 3}, "errors": 1, "scored": 5, "apcer_by_species": {"print": 0.2}}
        | {"bpcer": 0.1, "acer": 0.15, "auc": 0.9, "eer": 0.1},
        {"live": 0, "attacks": {"replay": 1}, "errors": 0, "scored": 1, "apcer_by_species": {}}
        | {"bpcer": None, "acer": None, "auc": None, "eer": None},
        {"live": 1, "attacks": {"print": 1, "replay": 2}, "errors": 0, "scored": 4}
        | {
            "apcer_by_species": {"print": 0.0, "replay": 0.5},
            "bpcer": 0.3,
            "acer": 0.4,
            "auc": 0.7,
            "eer": 0.3,
        },
    ]
    mean = mean_row(rows)
    assert mean["n_folds"] == 3 and mean["live"] == 3 and mean["errors"] == 1 and mean["scored"] == 10
    assert mean["attacks"] == {"print": 4, "replay": 3}
    assert mean["apcer_by_species"] == pytest.approx({"print": 0.1, "replay": 0.5})
    assert mean["acer"] == pytest.approx(0.275) and mean["auc"] == pytest.approx(0.8)
    assert mean["bpcer"] == pytest.approx(0.2) and mean["eer"] == pytest.approx(0.2)
    assert mean["folds_with"] == {
        "apcer print": 2,
        "apcer replay": 1,
        "bpcer": 2,
        "acer": 2,
        "auc": 2,
        "eer": 2,
    }
