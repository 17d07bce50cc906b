"""Subject-disjoint validation of the voxel3d training recipe on NUAA, through the served code path.

The same 3 folds over NUAA people as the other tests (`liveness.data.samples.subject_folds`, k=3). Per fold,
the Conv3D net and the planarity logistic are trained together by `voxel3d.train.fit` on the training
people's real windows, the synthetic clips and the replay-dev live windows; their artifacts are written
like the shipped ones and loaded by `Voxel3dModel`, which then scores the held-out people's windows with
`check` itself (motion gate included) for each scorer. Nothing of a held-out person is seen in training:
not by the net, the logistic, the feature scaling nor the gate (chosen on synthetic validation clips).

    OMP_NUM_THREADS=1 nice -n 10 python -m voxel3d.crossval --data ../shared/data --out models/crossval.json

`--baseline` adds a fixed model folder (e.g. the previously shipped artifacts) scored on the same held-out
windows, for a before/after comparison.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm import tqdm

from liveness.clierrors import click_errors
from liveness.data.samples import Sample, subject_folds
from voxel3d.evaluate import emit_report, figures, score_windows
from voxel3d.model import GEOMETRY_FILE, MODEL_FILE, SCORERS, Voxel3dModel, Voxel3dSettings
from voxel3d.tracks import Track
from voxel3d.train import (
    Prepared,
    Recipe,
    fit,
    prepare,
    real_training_set,
    recipe_options,
    training_weights,
    write_artifacts,
)

FOLDS = 3
EVAL_FRAMES = (8, 16, 32)


def track_folds(tracks: list[Track], k: int) -> list[tuple[list[Track], list[Track]]]:
    """k (train, held-out) splits of tracks with no person on both sides: liveness.data's subject folds."""
    samples = [
        Sample(Path(t.name), t.label, t.attack, t.subject, "video", "nuaa", extra={"index": str(i)})
        for i, t in enumerate(tracks)
    ]
    return [
        ([tracks[int(s.extra["index"])] for s in train], [tracks[int(s.extra["index"])] for s in held])
        for train, held in subject_folds(samples, k)
    ]


def score_held_out(
    models: Path, scorer: str, held: list[Track], frame_counts: tuple[int, ...]
) -> dict[int, list[dict[str, Any]]]:
    """Rows of `evaluate.score_windows` per window length: the artifacts in `models`, served as `scorer`."""
    settings = Voxel3dSettings(
        model_path=models / MODEL_FILE, geometry_path=models / GEOMETRY_FILE, scorer=scorer
    )
    model = Voxel3dModel(settings)
    return {frames: score_windows(model, held, frames, max(1, frames // 2)) for frames in frame_counts}


def _brief(fig: dict[str, Any]) -> dict[str, Any]:
    """The figures the model card quotes: verdict shares, APCER, BPCER, ACER at 0.5, EER, AUC."""
    out: dict[str, Any] = {
        "windows": fig["windows"],
        "verdict_fraction_live": fig["verdict_fraction_live"],
        "verdict_fraction_spoof": fig["verdict_fraction_spoof"],
    }
    if "summary" in fig:
        s = fig["summary"]
        out.update(
            apcer=s["at_threshold"]["apcer"],
            bpcer=s["at_threshold"]["bpcer"],
            acer=s["at_threshold"]["acer"],
            eer=s["eer"],
            auc=s["auc"],
            n_live=s["at_threshold"]["n_bona_fide"],
            n_spoof=sum(s["at_threshold"]["n_attack_by_species"].values()),
        )
    return out


def cross_validate(
    prep: Prepared,
    recipe: Recipe,
    fold_root: Path,
    folds: int,
    frame_counts: tuple[int, ...],
    baseline: Path | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train `recipe` per subject-disjoint NUAA fold (fold models written under `fold_root`/fold<i>) and score
    each fold's held-out people through the served code path for each scorer (and the `baseline` models,
    when given) at each clip length: per-fold rows, pooled figures and their mean over folds. `on_fold`
    sees each fold's row as it is done."""
    # Every real window's geometry is computed before TensorFlow is imported (see train.fit).
    nuaa_windows = real_training_set(prep.nuaa, prep.mesh, "nuaa windows")
    splits = track_folds(prep.nuaa, folds)
    scorers: list[str] = list(SCORERS) + (["baseline_planarity", "baseline_cnn"] if baseline else [])
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {s: {f: [] for f in frame_counts} for s in scorers}
    report: dict[str, Any] = {"folds": []}
    for f, (train_tracks, held) in enumerate(tqdm(splits, desc="folds")):
        names = {t.name for t in train_tracks}
        nuaa_train = nuaa_windows.select(np.array([tag in names for tag in nuaa_windows.tags], dtype=bool))
        train, weights = training_weights(
            [prep.synthetic_train, nuaa_train, prep.replay_live_train], recipe.real_fraction
        )
        fitted = fit(
            train, weights, prep.synthetic_val, prep.mesh, recipe.seed, recipe.epochs, recipe.threads
        )
        fold_models = fold_root / f"fold{f}"
        write_artifacts(fitted, prep.synthetic_val, fold_models)
        sources = {s: (fold_models, s) for s in SCORERS}
        if baseline is not None:
            sources.update(baseline_planarity=(baseline, "planarity"), baseline_cnn=(baseline, "cnn"))
        fold: dict[str, Any] = {
            "fold": f,
            "held_out_subjects": sorted({t.subject for t in held}),
            "n_nuaa_train_windows": len(nuaa_train.labels),
            "min_pose_deg": fitted.geometry.min_pose_deg,
            "min_rotation_deg": fitted.geometry.min_rotation_deg,
        }
        for name, (models, scorer) in sources.items():
            per_frames = score_held_out(models, scorer, held, frame_counts)
            fold[name] = {}
            for frames, r in per_frames.items():
                rows[name][frames].extend(r)
                fold[name][f"frames_{frames}"] = _brief(figures(r, 0.5))
        report["folds"].append(fold)
        if on_fold is not None:
            on_fold(fold)
        import keras

        keras.backend.clear_session()
    report["pooled"] = {
        name: {f"frames_{frames}": _brief(figures(r, 0.5)) for frames, r in by_frames.items()}
        for name, by_frames in rows.items()
    }
    report["mean_over_folds"] = {
        name: {
            f"frames_{frames}": {
                key: float(
                    np.mean([fold[name][f"frames_{frames}"].get(key, np.nan) for fold in report["folds"]])
                )
                for key in ("apcer", "bpcer", "acer", "eer", "auc")
            }
            for frames in frame_counts
        }
        for name in scorers
    }
    return report


@click.command()
@recipe_options
@click.option("--folds", type=click.IntRange(2, 9), default=FOLDS, show_default=True)
@click.option("--frames", "frame_counts", multiple=True, type=int, default=EVAL_FRAMES, show_default=True)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="A folder with voxel3d.onnx and voxel3d_geometry.npz scored on the same held-out windows.",
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the JSON here."
)
@click_errors()
def cli(
    data: Path,
    cache: Path,
    folds: int,
    frame_counts: tuple[int, ...],
    baseline: Path | None,
    out: Path | None,
    **recipe_args: Any,
) -> None:
    """Train the recipe per NUAA fold and score each fold's held-out people with the served model."""
    started = time.process_time(), time.perf_counter()
    recipe = Recipe(**recipe_args)
    recipe_key = hashlib.sha256(repr(recipe).encode()).hexdigest()[:12]
    prep = prepare(data, cache, recipe)
    # One folder per recipe, so runs of different recipes side by side never read each other's files.
    fold_root = cache / "crossval" / recipe_key
    report = {
        "recipe": dict(recipe_args),
        **cross_validate(
            prep,
            recipe,
            fold_root,
            folds,
            frame_counts,
            baseline,
            on_fold=lambda fold: click.echo(json.dumps(fold, indent=2)),
        ),
    }
    report["cpu_s"] = time.process_time() - started[0]
    report["wall_s"] = time.perf_counter() - started[1]
    emit_report(report, out)


if __name__ == "__main__":
    cli()
