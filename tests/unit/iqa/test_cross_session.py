"""iqa's cross-session run: the fold function on synthetic features, the domains, and the CLI end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from iqa import train
from iqa.model import ARTIFACT
from iqa.train import Item, cross_session, cross_session_mean, feature_matrix, fit_calibrated, item_domains
from liveness.errors import InvalidInput

from .conftest import stub_biqi, synthetic_raws

SUBJECTS = ("0001", "0002", "0003")
SESSIONS = ("01", "02")
PER_CELL = 2  # live and spoof images per (subject, session)


def _synthetic() -> tuple[list[Item], list, np.ndarray]:
    """Items of two NUAA sessions (3 people, 2 live + 2 print each) and one replay-dev person (2 + 2), with
    the raw features of sharp-grain (live) and blurred-grain (spoof) pictures, and their domains."""
    n_live = len(SUBJECTS) * len(SESSIONS) * PER_CELL + 2
    raws, is_live = synthetic_raws(n_live, seed=3)
    live_raws = [r for r, lv in zip(raws, is_live, strict=True) if lv]
    spoof_raws = [r for r, lv in zip(raws, is_live, strict=True) if not lv]
    items, rows, domains = [], [], []
    for session in SESSIONS:
        for subject in SUBJECTS:
            for label, pool in (("live", live_raws), ("spoof", spoof_raws)):
                for i in range(PER_CELL):
                    name = f"{label}/{subject}/{subject}_00_00_{session}_{i}.jpg"
                    attack = "none" if label == "live" else "print"
                    items.append(Item(name, "nuaa", label == "live", attack, subject))
                    rows.append(pool.pop())
                    domains.append(f"nuaa/s{session}")
    for label, pool in (("live", live_raws), ("spoof", spoof_raws)):
        for i in range(2):
            attack = "none" if label == "live" else "replay"
            items.append(Item(f"p/{label}/{i}.png", "replay-dev", label == "live", attack, "p"))
            rows.append(pool.pop())
            domains.append("replay-dev/p")
    assert not live_raws and not spoof_raws
    return items, rows, np.asarray(domains)


@pytest.fixture(scope="module")
def synthetic() -> tuple[list[Item], list, np.ndarray]:
    return _synthetic()


def test_each_session_is_held_out_and_scored_alone(synthetic: tuple[list[Item], list, np.ndarray]) -> None:
    items, raws, domains = synthetic
    rows = cross_session(items, raws, domains, stub_biqi(), progress=False)
    assert [r["fold"] for r in rows] == ["nuaa/s01", "nuaa/s02"]
    per_session = len(SUBJECTS) * PER_CELL
    for row, other in zip(rows, ("nuaa/s02", "nuaa/s01"), strict=True):
        held = row["fold"]
        expected = {f"nuaa/{i.key}" for i, d in zip(items, domains, strict=True) if d == held}
        assert set(row["scores"]) == expected  # the held-out session's images, each once, nothing else
        assert row["train_by_domain"] == {other: 2 * per_session, "replay-dev/p": 4}
        assert row["train_images"] == 2 * per_session + 4
        at = row["images"]["at_threshold"]
        assert at["n_bona_fide"] == per_session
        assert at["n_attack_by_species"] == {"print": per_session}
        # Sharp versus blurred grain: a recipe that scores the wrong rows or inverts P(live) ranks them badly.
        assert row["images"]["auc"] > 0.9
        assert all(0.0 <= s <= 1.0 for s in row["scores"].values())
    mean = cross_session_mean(rows)
    assert mean["acer"] == pytest.approx(np.mean([r["images"]["at_threshold"]["acer"] for r in rows]))
    assert mean["auc"] == pytest.approx(np.mean([r["images"]["auc"] for r in rows]))


def test_fold_scores_are_the_served_recipe_fitted_without_the_session(
    synthetic: tuple[list[Item], list, np.ndarray],
) -> None:
    items, raws, domains = synthetic
    biqi = stub_biqi()
    row = cross_session(items, raws, domains, biqi, progress=False)[0]
    live = np.array([i.is_live for i in items])
    train_idx = np.flatnonzero(domains != "nuaa/s01")
    test_idx = np.flatnonzero(domains == "nuaa/s01")
    clf, niqe, calibration = fit_calibrated(items, raws, live, train_idx, biqi)
    expected = clf.proba(feature_matrix([raws[i] for i in test_idx], biqi, niqe))
    got = [row["scores"][f"nuaa/{items[i].key}"] for i in test_idx]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert row["calibration"] == pytest.approx(calibration)


def test_held_out_labels_never_reach_the_fold_that_scores_them(
    synthetic: tuple[list[Item], list, np.ndarray],
) -> None:
    items, raws, domains = synthetic
    biqi = stub_biqi()
    before = cross_session(items, raws, domains, biqi, progress=False)
    # Flip the labels of session 01: its own fold must score it the same (it never trained on them),
    # the other fold, which trains on session 01, must change.
    flipped = [
        replace(i, is_live=not i.is_live, attack="print" if i.is_live else "none") if d == "nuaa/s01" else i
        for i, d in zip(items, domains, strict=True)
    ]
    after = cross_session(flipped, raws, domains, biqi, progress=False)
    assert after[0]["scores"] == before[0]["scores"]
    assert after[0]["images"]["auc"] == pytest.approx(1 - before[0]["images"]["auc"])
    assert after[1]["scores"] != before[1]["scores"]


def test_mismatched_inputs_are_refused(synthetic: tuple[list[Item], list, np.ndarray]) -> None:
    items, raws, domains = synthetic
    with pytest.raises(ValueError, match="domains"):
        cross_session(items, raws, domains[:-1], stub_biqi(), progress=False)


def _picture(rng: np.random.Generator, live: bool) -> np.ndarray:
    grain = cv2.resize(rng.uniform(0, 255, (30, 40)).astype(np.float32), (160, 120))
    grain = np.clip(grain + rng.normal(0, 12, grain.shape), 0, 255).astype(np.uint8)
    grain = grain if live else cv2.GaussianBlur(grain, (0, 0), 1.5)
    return np.repeat(grain[:, :, None], 3, axis=2)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """nuaa/ with 3 people in sessions 01 and 02 (2 live + 2 print each) and replay-dev/ with one person."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for session in SESSIONS:
        for subject in SUBJECTS:
            for label in ("live", "spoof"):
                folder = root / "nuaa" / label / subject
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(PER_CELL):
                    path = folder / f"{subject}_00_00_{session}_{i}.jpg"
                    cv2.imwrite(str(path), _picture(rng, label == "live"))
    rows = ["path,label,kind,attack,source"]
    for label in ("live", "spoof"):
        folder = root / "replay-dev" / "p" / label
        folder.mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(folder / f"{i}.png"), _picture(rng, label == "live"))
            rows.append(f"p/{label}/{i}.png,{label},image,{'none' if label == 'live' else 'replay'},x/p")
    (root / "replay-dev" / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_item_domains_name_sessions_and_people(data_dir: Path) -> None:
    items = [
        Item("live/0001/0001_00_00_02_1.jpg", "nuaa", True, "none", "0001"),
        Item("spoof/0003/0003_00_00_01_0.jpg", "nuaa", False, "print", "0003"),
        Item("p/live/0.png#20", "replay-dev", True, "none", "x/p"),
    ]
    assert item_domains(items, data_dir).tolist() == ["nuaa/s02", "nuaa/s01", "replay-dev/p"]
    stale = Item("live/0009/0009_00_00_01_0.jpg", "nuaa", True, "none", "0009")
    with pytest.raises(InvalidInput, match="0009_00_00_01_0.jpg"):
        item_domains([stale], data_dir)


def test_cli_writes_cross_session_scores_and_no_artifact(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BIQI's fit on synthetic distortions of scikit-image's photographs is the slow step and not what is
    # tested here (test_train.py runs it, marked `train`).
    monkeypatch.setattr(train, "fit_biqi", lambda seed: (stub_biqi(), {"biqi_training_images": 0.0}))
    out = tmp_path / "xs"
    args = ["--data", str(data_dir), "--cross-session", "--out", str(out), "--cache", str(tmp_path / "c")]
    result = CliRunner().invoke(train.cli, args)
    assert result.exit_code == 0, result.output
    assert "nuaa/s01" in result.output and "mean" in result.output
    assert not (out / ARTIFACT).exists() and not (out / "metrics.json").exists()
    report = json.loads((out / "metrics-cross-session.json").read_text())
    folds = report["protocols"]["cross-session"]
    assert [f["fold"] for f in folds] == ["nuaa/s01", "nuaa/s02"]
    assert report["images"] == {"nuaa": 24, "replay-dev": 4}
    for fold in folds:
        session = fold["fold"][-2:]
        names = {Path(k).name for k in fold["scores"]}
        assert len(fold["scores"]) == 12 and {n.split("_")[3] for n in names} == {session}
        assert all(k.startswith("nuaa/live/") or k.startswith("nuaa/spoof/") for k in fold["scores"])
    assert report["mean"]["cross-session"]["acer"] == pytest.approx(
        np.mean([f["images"]["at_threshold"]["acer"] for f in folds])
    )
