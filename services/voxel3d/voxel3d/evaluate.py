"""Evaluate the served voxel3d model on real landmark tracks, through `Voxel3dModel.check` itself.

Real clips are windows of N consecutive frames of the cached tracks (voxel3d.tracks): NUAA recordings (9
people, live and hand-held prints) and replay-dev (screen replays, never trained on). The shipped model is
trained on every NUAA person and on the replay-dev live videos, so those figures are training-data figures
and are labelled so; the held-out figures of the same recipe come from `voxel3d.crossval` (subject folds).
For each window size the report gives the share of windows that get a verdict (status OK, the rest
LOW_QUALITY for too little motion) and, on those, the ISO/IEC 30107-3 figures from `liveness.iso30107` at the
model's threshold, pooled and per NUAA subject.

    .venv/bin/python -m voxel3d.evaluate --data ../shared/data [--scorer cnn|planarity]
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from liveness import iso30107
from liveness.types import Box, CheckOptions, Face, FaceObservation, Media, Status
from voxel3d import synth
from voxel3d.model import GEOMETRY_FILE, MODEL_FILE, GeometryArtifact, Voxel3dModel, Voxel3dSettings
from voxel3d.tracks import Track, nuaa_tracks, replay_dev_tracks

_BLANK = np.zeros((2, 2, 3), np.uint8)


def window_observations(points: npt.NDArray[np.float32]) -> tuple[Media, list[FaceObservation]]:
    """A clip stand-in (the model reads no pixels) with one observation per frame of landmarks (F, 68, 2)."""
    faces = []
    for i, p in enumerate(points):
        lo, hi = p.min(axis=0), p.max(axis=0)
        face = Face(Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), p.astype(np.float32))
        faces.append(FaceObservation(frame_index=i, count=1, face=face))
    media = Media(frames=(_BLANK,) * len(points), timestamps_ms=tuple(range(len(points))), is_clip=True)
    return media, faces


def score_windows(model: Voxel3dModel, tracks: list[Track], frames: int, stride: int) -> list[dict[str, Any]]:
    """One record per window: track name, subject, label, status and score."""
    rows = []
    for track in tracks:
        for window in track.windows(frames, stride):
            result = model.check(*window_observations(window), CheckOptions())
            rows.append(
                {
                    "track": track.name,
                    "subject": track.subject,
                    "live": track.is_live,
                    "attack": track.attack,
                    "status": result.status.value,
                    "score": result.score,
                }
            )
    return rows


def synthetic_sweep(
    model: Voxel3dModel,
    reference: npt.NDArray[np.float64],
    frame_counts: tuple[int, ...],
    amplitudes_deg: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 30.0),
    per_cell: int = 40,
    seed: int = 2024,
) -> dict[str, Any]:
    """Verdict share and accuracy of fresh synthetic clips per frame count, motion amplitude and kind.

    This is where N (frames) and X (degrees) of the model card come from: how much motion the test needs.
    """
    rng = np.random.default_rng(seed)
    threshold = model.info.recommended_threshold
    out: dict[str, Any] = {}
    for frames in frame_counts:
        for amp in amplitudes_deg:
            cell: dict[str, Any] = {}
            for kind in synth.KINDS:
                ok, correct = 0, 0
                for _ in range(per_cell):
                    track = synth.synth_track(kind, reference, frames, rng, amplitude_deg=amp)
                    result = model.check(*window_observations(track.astype(np.float32)), CheckOptions())
                    if result.status is Status.OK:
                        ok += 1
                        correct += int((result.score >= threshold) == (kind == "live"))
                cell[kind] = {"verdict": ok / per_cell, "accuracy": correct / ok if ok else None}
            out[f"frames_{frames}_amp_{amp:g}"] = cell
    return out


def figures(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == Status.OK.value]
    out: dict[str, Any] = {
        "windows": len(rows),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "verdict_fraction_live": _share(ok, rows, True),
        "verdict_fraction_spoof": _share(ok, rows, False),
    }
    scores = np.array([r["score"] for r in ok])
    live = np.array([r["live"] for r in ok], dtype=bool)
    if live.any() and (~live).any():
        out["summary"] = iso30107.summarize(
            scores, live, [r["attack"] for r in ok], threshold=threshold
        ).to_dict()
    else:
        # One class only: the one rate that is defined.
        if live.any():
            out["bpcer"] = float(np.mean(scores < threshold))
        elif len(ok):
            out["apcer"] = float(np.mean(scores >= threshold))
    return out


def _share(ok: list[dict[str, Any]], rows: list[dict[str, Any]], live: bool) -> float | None:
    total = sum(1 for r in rows if r["live"] == live)
    return sum(1 for r in ok if r["live"] == live) / total if total else None


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("../shared/data"),
    show_default=True,
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".cache/voxel3d"),
    show_default=True,
)
@click.option(
    "--models",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder with voxel3d.onnx and voxel3d_geometry.npz (default: the shipped ones).",
)
@click.option("--scorer", type=click.Choice(["cnn", "planarity"]), default="cnn", show_default=True)
@click.option("--frames", "frame_counts", multiple=True, type=int, default=(8, 16, 32), show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the JSON here."
)
def cli(
    data: Path, cache: Path, models: Path | None, scorer: str, frame_counts: tuple[int, ...], out: Path | None
) -> None:
    """Score real landmark-track windows with the served model and print ISO 30107-3 figures."""
    settings = Voxel3dSettings(scorer=scorer)
    if models is not None:
        settings = Voxel3dSettings(
            model_path=models / MODEL_FILE, geometry_path=models / GEOMETRY_FILE, scorer=scorer
        )
    model = Voxel3dModel(settings)
    threshold = model.info.recommended_threshold
    nuaa = nuaa_tracks(data / "nuaa", cache / "tracks")
    replay = replay_dev_tracks(data / "replay-dev", cache / "tracks")
    report: dict[str, Any] = {"scorer": scorer, "threshold": threshold, "model": model.info.version}
    for frames in frame_counts:
        stride = max(1, frames // 2)
        nuaa_rows = score_windows(model, nuaa, frames, stride)
        per_subject = {}
        for subject in sorted({r["subject"] for r in nuaa_rows}):
            per_subject[subject] = figures([r for r in nuaa_rows if r["subject"] == subject], threshold)
        report[f"frames_{frames}"] = {
            "nuaa_TRAINING_DATA": figures(nuaa_rows, threshold),
            "nuaa_per_subject_TRAINING_DATA": per_subject,
            "replay_dev_spoof": figures(
                score_windows(model, [t for t in replay if not t.is_live], frames, stride), threshold
            ),
            "replay_dev_live_TRAINING_DATA": figures(
                score_windows(model, [t for t in replay if t.is_live], frames, stride), threshold
            ),
        }
    reference = GeometryArtifact.load(settings.geometry_path).mesh.reference
    report["synthetic"] = synthetic_sweep(model, reference, frame_counts)
    emit_report(report, out)


def emit_report(report: dict[str, Any], out: Path | None) -> None:
    """Print the JSON report, and write it to `out` when given."""
    text = json.dumps(report, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    click.echo(text)


if __name__ == "__main__":
    cli()
