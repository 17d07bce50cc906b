"""scripts/fusion_scores.py: held-out scores of every test joined on the right rows."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "fusion_scores.py"
SHARED = "0001_00_00_01_0.jpg"  # NUAA has this name in live/ and in spoof/


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fusion_scores", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    nuaa = [
        ("nuaa/s01", f"nuaa/live/0001/{SHARED}", "live", "none", "0.9"),
        ("nuaa/s01", f"nuaa/spoof/0001/{SHARED}", "spoof", "print", "0.1"),
        ("nuaa/s02", "nuaa/live/0001/0001_00_00_02_5.jpg", "live", "none", "0.8"),
    ]
    texture = tmp_path / "oof.csv"
    with texture.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["protocol", "domain", "clip", "label", "attack", "texture"])
        for row in nuaa:
            writer.writerow(["cross-session", *row])
        writer.writerow(
            ["cross-source", "replay-more/src", "replay-more/src/a.jpg", "spoof", "replay", "0.3"]
        )

    def metrics(scores: dict[str, dict[str, float]]) -> dict[str, object]:
        return {"protocols": {"cross-session": [{"fold": f, "scores": s} for f, s in scores.items()]}}

    cnn2d = tmp_path / "cnn2d.json"
    cnn2d.write_text(
        json.dumps(metrics({"nuaa/s01": {SHARED: 0.5}, "nuaa/s02": {"0001_00_00_02_5.jpg": 0.7}}))
    )
    iqa = tmp_path / "iqa.json"
    iqa_scores = {
        "nuaa/s01": {f"nuaa/live/0001/{SHARED}": 0.61, f"nuaa/spoof/0001/{SHARED}": 0.21},
        "nuaa/s02": {"nuaa/live/0001/0001_00_00_02_5.jpg": 0.83},
    }
    iqa.write_text(json.dumps(metrics(iqa_scores)))
    report = tmp_path / "report.json"
    sample = {
        "path": "src/a.jpg",
        "label": "spoof",
        "attack": "replay",
        "tests": {
            n: {"status": "ok", "score": s} for n, s in (("iqa", 0.4), ("cnn2d", 0.2), ("texture", 0.9))
        },
    }
    report.write_text(json.dumps({"samples": [sample]}))
    return {"texture": texture, "cnn2d": cnn2d, "iqa": iqa, "report": report}


def _run(
    inputs: dict[str, Path], out: Path, *, with_iqa: bool, extra: tuple[str, ...] = ()
) -> dict[str, dict[str, str]]:
    args = ["--texture", str(inputs["texture"]), "--cnn2d", str(inputs["cnn2d"])]
    args += ["--report", str(inputs["report"]), "--out", str(out), *extra]
    if with_iqa:
        args += ["--iqa", str(inputs["iqa"])]
    result = CliRunner().invoke(_script().main, args)
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def test_iqa_scores_land_on_their_own_image(inputs: dict[str, Path], tmp_path: Path) -> None:
    inputs["cnn2d"].write_text(
        json.dumps(
            {
                "protocols": {
                    "cross-session": [
                        {"fold": "nuaa/s01", "scores": {f"live/{SHARED}": 0.55, f"spoof/{SHARED}": 0.15}},
                        {"fold": "nuaa/s02", "scores": {"live/0001_00_00_02_5.jpg": 0.7}},
                    ]
                }
            }
        )
    )
    rows = _run(inputs, tmp_path / "out.csv", with_iqa=True)
    live, spoof = rows[f"nuaa/live/0001/{SHARED}"], rows[f"nuaa/spoof/0001/{SHARED}"]
    assert (live["label"], live["iqa"], live["cnn2d"], live["texture"]) == (
        "live",
        "0.610000",
        "0.550000",
        "0.9",
    )
    assert (spoof["label"], spoof["iqa"], spoof["cnn2d"], spoof["texture"]) == (
        "spoof",
        "0.210000",
        "0.150000",
        "0.1",
    )
    other = rows["nuaa/live/0001/0001_00_00_02_5.jpg"]
    assert (other["iqa"], other["cnn2d"]) == ("0.830000", "0.700000")
    unseen = rows["replay-more/src/a.jpg"]  # the shipped iqa never saw replay-more: the report's score
    assert (unseen["iqa"], unseen["cnn2d"], unseen["texture"]) == ("0.400000", "0.200000", "0.3")


def test_a_cnn2d_file_keyed_by_bare_names_leaves_shared_names_out(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    rows = _run(inputs, tmp_path / "out.csv", with_iqa=True)
    # the fixture's cnn2d file keys by file name: a shared name cannot say which image it scored
    assert f"nuaa/live/0001/{SHARED}" not in rows and f"nuaa/spoof/0001/{SHARED}" not in rows
    assert rows["nuaa/live/0001/0001_00_00_02_5.jpg"]["cnn2d"] == "0.700000"


def test_without_iqa_its_nuaa_scores_stay_empty(inputs: dict[str, Path], tmp_path: Path) -> None:
    rows = _run(inputs, tmp_path / "out.csv", with_iqa=False)
    assert [r["iqa"] for p, r in sorted(rows.items()) if p.startswith("nuaa/")] == [""]


def test_iqa_file_matching_no_row_is_refused(inputs: dict[str, Path], tmp_path: Path) -> None:
    inputs["iqa"].write_text(
        json.dumps({"protocols": {"cross-session": [{"fold": "x", "scores": {"a": 1}}]}})
    )
    args = ["--texture", str(inputs["texture"]), "--cnn2d", str(inputs["cnn2d"]), "--iqa", str(inputs["iqa"])]
    args += ["--report", str(inputs["report"]), "--out", str(tmp_path / "out.csv")]
    result = CliRunner().invoke(_script().main, args)
    assert result.exit_code != 0 and "none of its scores" in result.output
    inputs["iqa"].write_text("{}")
    result = CliRunner().invoke(_script().main, args)
    assert result.exit_code != 0 and "no protocols.cross-session" in result.output


@pytest.mark.parametrize(("held_out", "expected"), [({"replay-more/src/a.jpg": 0.07}, "0.070000"), ({}, "")])
def test_cnn2d_source_scores_replace_the_reports(
    inputs: dict[str, Path], tmp_path: Path, held_out: dict[str, float], expected: str
) -> None:
    """A cnn2d trained on replay-more saw every source the report scored: only its leave-one-source-out
    score may stand, and a face it has none for gets no cnn2d score rather than the report's."""
    sources = tmp_path / "cnn2d-xsrc.json"
    sources.write_text(
        json.dumps({"protocols": {"cross-source": [{"fold": "replay-more/src", "scores": held_out}]}})
    )
    rows = _run(inputs, tmp_path / "out.csv", with_iqa=True, extra=("--cnn2d-sources", str(sources)))
    assert rows["replay-more/src/a.jpg"]["cnn2d"] == expected
    assert rows["replay-more/src/a.jpg"]["iqa"] == "0.400000"  # the other tests' scores stay
    assert _run(inputs, tmp_path / "plain.csv", with_iqa=True)["replay-more/src/a.jpg"]["cnn2d"] == "0.200000"


def test_fold_reports_join_as_their_fold_with_cnn2d_and_texture_only(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """A held-out person's report (eval_replay_dev.sh): its faces join as that fold's domain with the
    retrained cnn2d's and texture's scores; iqa's is dropped (the shipped iqa saw replay-dev), and a sample
    where neither face test answered (no face found) is left out."""
    ok = {"status": "ok"}
    samples = [
        {
            "path": "replay-dev/p/live/real.mp4",
            "label": "live",
            "attack": "none",
            "fold": "replay-dev/p",
            "tests": {
                "iqa": {**ok, "score": 0.9},
                "cnn2d": {**ok, "score": 0.4},
                "texture": {**ok, "score": 0.8},
            },
        },
        {
            "path": "replay-dev/p/spoof/a.png",
            "label": "spoof",
            "attack": "replay",
            "fold": "replay-dev/p",
            "tests": {"iqa": {**ok, "score": 0.1}, "cnn2d": {"status": "no_face", "score": 0.0}},
        },
    ]
    report = tmp_path / "p.json"
    report.write_text(json.dumps({"samples": samples}))
    rows = _run(inputs, tmp_path / "out.csv", with_iqa=True, extra=("--fold-report", str(report)))
    live = rows["replay-dev/p/live/real.mp4"]
    assert (live["domain"], live["label"], live["iqa"], live["cnn2d"], live["texture"]) == (
        "replay-dev/p",
        "live",
        "",
        "0.400000",
        "0.800000",
    )
    assert "replay-dev/p/spoof/a.png" not in rows
    del samples[0]["fold"]
    report.write_text(json.dumps({"samples": samples}))
    args = [
        "--texture",
        str(inputs["texture"]),
        "--cnn2d",
        str(inputs["cnn2d"]),
        "--report",
        str(inputs["report"]),
    ]
    args += ["--fold-report", str(report), "--out", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(_script().main, args)
    assert result.exit_code != 0 and "without its fold" in result.output
