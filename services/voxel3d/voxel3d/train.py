"""Train voxel3d: reference face from live tracks, synthetic + real clips, VoxNet-class Conv3D -> ONNX.

Steps (all seeded):
1. Landmark tracks of replay-dev and NUAA, detected once with `liveness.vision.face` and cached.
2. The reference (mean) 3D face: factorise windows of the replay-dev live tracks, keep the half with the most
   3D signal, generalised Procrustes, then symmetrise left/right. Its triangulation makes the voxel surface.
3. Training clips: synthetic live faces, flat prints, bent prints and screens (voxel3d.synth, "realistic"
   mode by default) plus real windows of 8, 16 and 32 frames of every NUAA recording and of the replay-dev
   live videos, weighted to a fixed share of the training weight. Synthetic validation clips (another
   seed) pick the motion gate. The honest, subject-disjoint validation of this recipe is voxel3d.crossval,
   which runs `prepare`, `fit` and `write_artifacts` per NUAA fold.
4. The minimum head rotation for a verdict (LOW_QUALITY below it) is measured on synthetic validation.
5. A logistic regression on the analytic features (the planarity fallback) and the Conv3D net, trained on
   the same weighted clips; ONNX export with a parity check; metrics JSON for the model card.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from liveness import iso30107, training
from liveness.clierrors import click_errors
from voxel3d import geometry, synth
from voxel3d.features import MIRROR_68, FaceMesh, clip_inputs
from voxel3d.model import GEOMETRY_FILE, MODEL_FILE, VERSION, GeometryArtifact
from voxel3d.tracks import Track, nuaa_tracks, replay_dev_tracks

MIN_POSE_CANDIDATES_DEG = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0)
MIN_ROTATION_CANDIDATES_DEG = (15.0, 20.0, 25.0, 30.0, 90.0)  # 90: the tilt alone never suffices
TARGET_SYNTH_ACCURACY = 0.9
EVAL_FRAMES = 16
TRAIN_WINDOW_FRAMES = (8, 16, 32)
TRAIN_WINDOW_STRIDE = 4


def derive_reference(live: list[Track], frames: int = 16, stride: int = 4) -> npt.NDArray[np.float64]:
    """A symmetric mean 3D face (3, 68), RMS radius 1, from windows of real live landmark tracks."""
    shapes, ratios = [], []
    for track in live:
        for window in track.windows(frames, stride):
            fact = geometry.factorise(window)
            shapes.append(geometry.camera_aligned(fact))
            ratios.append(fact.singular_values[2] / fact.singular_values[1])
    if not shapes:
        raise click.ClickException("no live windows to derive the reference face from")
    keep = np.asarray(ratios) >= np.median(ratios)
    chosen = [s for s, k in zip(shapes, keep, strict=True) if k]
    ref = chosen[0]
    for _ in range(5):
        ref = np.mean([geometry.canonical_shape(s, ref)[0] for s in chosen], axis=0)
        ref /= np.sqrt(np.mean(np.sum(ref**2, axis=0)))
    mirrored = np.diag([-1.0, 1.0, 1.0]) @ ref[:, MIRROR_68]
    # Procrustes without reflection maps the mirrored face back onto the face; average the two.
    mirrored_aligned = geometry.canonical_shape(mirrored, ref)[0]
    sym = (ref + mirrored_aligned) / 2.0
    return sym / np.sqrt(np.mean(np.sum(sym**2, axis=0)))


def triangulate(reference: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    """Delaunay triangles of the reference face seen from the front (x, y)."""
    from scipy.spatial import Delaunay  # training only

    return np.asarray(Delaunay(reference[:2].T).simplices, dtype=np.int32)


@dataclass(frozen=True, slots=True)
class ClipSet:
    """Model inputs and labels of many clips: voxels uint8 (N, 32, 32, 32), features (N, 7), labels 1 = live,
    the head pose range and the landmark-set rotation range of each (degrees), and a tag (kind or track)."""

    voxels: npt.NDArray[np.uint8]
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]
    pose_deg: npt.NDArray[np.float32]
    rotation_deg: npt.NDArray[np.float32]
    tags: list[str]

    @classmethod
    def empty(cls) -> ClipSet:
        return cls(
            np.zeros((0,) + (geometry.GRID_SIZE,) * 3, np.uint8),
            np.zeros((0, geometry.N_FEATURES), np.float32),
            *(np.zeros(0, np.float32),) * 3,
            [],
        )

    @classmethod
    def of(cls, tracks: Iterable[tuple[npt.ArrayLike, bool, str]], mesh: FaceMesh) -> ClipSet:
        vox, feats, labels, pose, rot, tags = [], [], [], [], [], []
        for points, is_live, tag in tracks:
            ci = clip_inputs(points, mesh)
            vox.append(ci.voxels.astype(np.uint8))
            feats.append(ci.features)
            labels.append(1.0 if is_live else 0.0)
            pose.append(ci.structure.pose_range_deg)
            rot.append(ci.structure.rotation_range_deg)
            tags.append(tag)
        if not vox:
            return cls.empty()
        return cls(
            np.stack(vox),
            np.stack(feats),
            np.array(labels, np.float32),
            np.array(pose, np.float32),
            np.array(rot, np.float32),
            tags,
        )

    @classmethod
    def concat(cls, parts: Iterable[ClipSet]) -> ClipSet:
        items = [p for p in parts if len(p.labels)]
        if not items:
            return cls.empty()
        return cls(
            np.concatenate([p.voxels for p in items]),
            np.concatenate([p.features for p in items]),
            np.concatenate([p.labels for p in items]),
            np.concatenate([p.pose_deg for p in items]),
            np.concatenate([p.rotation_deg for p in items]),
            [t for p in items for t in p.tags],
        )

    def select(self, keep: npt.NDArray[np.bool_]) -> ClipSet:
        return ClipSet(
            self.voxels[keep],
            self.features[keep],
            self.labels[keep],
            self.pose_deg[keep],
            self.rotation_deg[keep],
            [t for t, k in zip(self.tags, keep, strict=True) if k],
        )

    def save(self, path: Path) -> None:
        """Cache the set (voxels bit-packed: 4 kB a clip instead of 32 kB)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            voxels=np.packbits(self.voxels.astype(bool), axis=-1),
            features=self.features,
            labels=self.labels,
            pose_deg=self.pose_deg,
            rotation_deg=self.rotation_deg,
            tags=np.array(self.tags),
        )

    @classmethod
    def load(cls, path: Path) -> ClipSet:
        with np.load(path) as z:
            return cls(
                np.unpackbits(z["voxels"], axis=-1).astype(np.uint8),
                z["features"],
                z["labels"],
                z["pose_deg"],
                z["rotation_deg"],
                [str(t) for t in z["tags"]],
            )


def synthetic_set(
    n: int, mesh: FaceMesh, seed: int, desc: str, settings: synth.SynthSettings | None = None
) -> ClipSet:
    """n synthetic clips, half live, the rest split between print, bent and screen; 8 to 32 frames each."""
    rng = np.random.default_rng(seed)
    settings = settings if settings is not None else synth.SynthSettings()

    def clips() -> Iterator[tuple[npt.ArrayLike, bool, str]]:
        for i in tqdm(range(n), desc=desc):
            kind = "live" if i % 2 == 0 else ("print", "bent", "screen")[(i // 2) % 3]
            track = synth.synth_track(kind, mesh.reference, int(rng.integers(8, 33)), rng, settings)
            yield track, kind == "live", kind

    return ClipSet.of(clips(), mesh)


def cached_synthetic_set(
    n: int, mesh: FaceMesh, seed: int, desc: str, settings: synth.SynthSettings, cache: Path
) -> ClipSet:
    """synthetic_set, read from `cache` when the same reference face, seed, size and settings made it."""
    key = hashlib.sha256(
        mesh.reference.tobytes() + repr((n, seed, settings, synth.GENERATOR_VERSION)).encode()
    ).hexdigest()[:16]
    path = cache / f"synth_{desc.replace(' ', '_')}_{key}.npz"
    if path.exists():
        return ClipSet.load(path)
    clips = synthetic_set(n, mesh, seed, desc, settings)
    clips.save(path)
    return clips


def real_set(tracks: list[Track], mesh: FaceMesh, frames: int, stride: int) -> ClipSet:
    """Windows of `frames` valid frames every `stride` of real tracks, tagged with the track's name."""
    return ClipSet.of(((w, t.is_live, t.name) for t in tracks for w in t.windows(frames, stride)), mesh)


def real_training_set(tracks: list[Track], mesh: FaceMesh, desc: str) -> ClipSet:
    """Training windows of real tracks at every served length (8, 16 and 32 frames), overlapping."""
    return ClipSet.concat(
        real_set(tracks, mesh, frames, TRAIN_WINDOW_STRIDE) for frames in tqdm(TRAIN_WINDOW_FRAMES, desc=desc)
    )


def _balanced_accuracy(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.float32]) -> float:
    return float((np.mean(scores[labels == 1] >= 0.5) + np.mean(scores[labels == 0] < 0.5)) / 2.0)


def build_network(n_features: int) -> Any:
    """VoxNet-class 3D CNN (Maturana and Scherer 2015) on the occupancy grid, joined by the features."""
    import keras
    from keras import layers

    voxels = keras.Input(shape=(geometry.GRID_SIZE,) * 3 + (1,), name="voxels")
    feats = keras.Input(shape=(n_features,), name="features")
    x = layers.Conv3D(16, 5, strides=2, activation="relu", name="conv1")(voxels)
    x = layers.Conv3D(32, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling3D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    x = layers.Dense(64, activation="relu", name="fc_vox")(x)
    f = layers.Dense(16, activation="relu", name="fc_feat")(feats)
    x = layers.Concatenate(name="join")([x, f])
    out = layers.Dense(1, activation="sigmoid", name="p_live")(x)
    return keras.Model([voxels, feats], out, name="voxel3d")


def _rates(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.float32], threshold: float
) -> dict[str, float]:
    """APCER, BPCER, ACER (ISO/IEC 30107-3, `liveness.iso30107`) at `threshold` on P(live), and the EER.

    With one class only, the rate of the other class is NaN (undefined), not zero.
    """
    live = labels == 1
    out: dict[str, float] = {"n_live": int(live.sum()), "n_spoof": int((~live).sum())}
    if live.any() and (~live).any():
        rates = iso30107.rates_at(scores, live, threshold)
        out.update(apcer=rates.apcer, bpcer=rates.bpcer, acer=rates.acer, eer=iso30107.eer(scores, live)[0])
    else:
        out["apcer"] = float(np.mean(scores[~live] >= threshold)) if (~live).any() else float("nan")
        out["bpcer"] = float(np.mean(scores[live] < threshold)) if live.any() else float("nan")
        out["acer"] = float("nan")
    return out


def training_weights(parts: list[ClipSet], real_fraction: float) -> tuple[ClipSet, npt.NDArray[np.float32]]:
    """The training set (synthetic first, then real parts) and per-clip weights, mean 1.

    Real windows are few (nine NUAA people, two replay-dev people) next to thousands of synthetic clips, so
    they get weights that make them `real_fraction` of the total weight, instead of being repeated.
    """
    synthetic, real = parts[0], ClipSet.concat(parts[1:])
    weights = np.ones(len(synthetic.labels) + len(real.labels), np.float32)
    if len(real.labels) and 0.0 < real_fraction < 1.0:
        w_real = real_fraction / (1.0 - real_fraction) * len(synthetic.labels) / len(real.labels)
        weights[len(synthetic.labels) :] = w_real
    return ClipSet.concat([synthetic, real]), weights / weights.mean()


@dataclass(frozen=True, slots=True)
class Fitted:
    """One trained scorer pair: the Keras net, and the geometry artifact (scaling, planarity, gate)."""

    net: Any
    geometry: GeometryArtifact
    gates: list[dict[str, float]]

    def net_scores(self, c: ClipSet) -> npt.NDArray[np.float64]:
        if not len(c.labels):
            return np.zeros(0)
        v = c.voxels[..., None].astype(np.float32)
        feats = self.geometry.standardise(c.features)
        return np.asarray(self.net.predict([v, feats], verbose=0, batch_size=256)[:, 0], np.float64)

    def planarity_scores(self, c: ClipSet) -> npt.NDArray[np.float64]:
        return self.geometry.planarity_scores(c.features)

    def gate(self, c: ClipSet) -> npt.NDArray[np.bool_]:
        g = self.geometry
        return (c.pose_deg >= g.min_pose_deg) | (c.rotation_deg >= g.min_rotation_deg)


def fit(
    train: ClipSet,
    weights: npt.NDArray[np.float32],
    val: ClipSet,
    mesh: FaceMesh,
    seed: int,
    epochs: int,
    threads: int,
) -> Fitted:
    """Train the Conv3D net and the planarity logistic on the same weighted clips; pick the motion gate.

    Import TensorFlow only after every clip's geometry is computed: once loaded, its thread pools slow
    numpy's small SVDs several-fold.
    """
    from sklearn.linear_model import LogisticRegression

    feat_mean = np.average(train.features, axis=0, weights=weights).astype(np.float32)
    feat_std = (
        np.sqrt(np.average((train.features - feat_mean) ** 2, axis=0, weights=weights)) + 1e-6
    ).astype(np.float32)
    scaled = GeometryArtifact(
        mesh=mesh,
        feature_mean=feat_mean,
        feature_std=feat_std,
        planarity_coef=np.zeros(train.features.shape[1]),
        planarity_intercept=0.0,
        min_pose_deg=0.0,
        min_rotation_deg=0.0,
        version=VERSION,
    )
    xf = scaled.standardise(train.features)
    planarity = LogisticRegression(C=1.0, max_iter=1000).fit(xf, train.labels, sample_weight=weights)

    training.tensorflow(threads)
    training.seed_everything(seed)
    import keras

    net = build_network(geometry.N_FEATURES)
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(train.labels))
    net.fit(
        [train.voxels[order, ..., None].astype(np.float32), xf[order]],
        train.labels[order],
        sample_weight=weights[order],
        validation_data=(
            [val.voxels[..., None].astype(np.float32), scaled.standardise(val.features)],
            val.labels,
        ),
        epochs=epochs,
        batch_size=64,
        verbose=2,
    )
    fitted = Fitted(
        net,
        replace(
            scaled,
            planarity_coef=planarity.coef_[0].astype(np.float64),
            planarity_intercept=float(planarity.intercept_[0]),
        ),
        [],
    )
    # The gate: a verdict needs enough apparent head rotation OR enough tilt of the landmark set (a print
    # turned far enough shows its flatness through foreshortening without parallax). Among the gates whose
    # kept synthetic validation clips are classified with balanced accuracy >= the target, keep the most.
    val_scores = fitted.net_scores(val)
    gates = []
    for x in MIN_POSE_CANDIDATES_DEG:
        for yr in MIN_ROTATION_CANDIDATES_DEG:
            kept = (val.pose_deg >= x) | (val.rotation_deg >= yr)
            if len(np.unique(val.labels[kept])) < 2:
                continue
            gates.append(
                {
                    "min_pose_deg": x,
                    "min_rotation_deg": yr,
                    "kept": float(kept.mean()),
                    "balanced_accuracy": _balanced_accuracy(val_scores[kept], val.labels[kept]),
                }
            )
    passing = [g for g in gates if g["balanced_accuracy"] >= TARGET_SYNTH_ACCURACY]
    best = (
        max(passing, key=lambda g: g["kept"]) if passing else max(gates, key=lambda g: g["balanced_accuracy"])
    )
    gated = replace(
        fitted.geometry,
        min_pose_deg=float(best["min_pose_deg"]),
        min_rotation_deg=float(best["min_rotation_deg"]),
    )
    return Fitted(net, gated, gates)


def write_artifacts(fitted: Fitted, probe: ClipSet, out: Path) -> dict[str, Any]:
    """Write voxel3d.onnx (checked against Keras on `probe`) and the geometry npz; return the export report
    and the artifacts' digests."""
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / MODEL_FILE
    report = training.export_onnx(
        fitted.net,
        onnx_path,
        {
            "version": VERSION,
            "input_voxels": "float32 (N, 32, 32, 32, 1) occupancy, axes (z, y, x), canonical face frame",
            "input_features": f"float32 (N, {geometry.N_FEATURES}) standardised: "
            + ",".join(geometry.FEATURE_NAMES),
            "output": "P(live)",
        },
        [probe.voxels[:32, ..., None], fitted.geometry.standardise(probe.features[:32])],
        output_names=["p_live"],
    )
    fitted.geometry.save(out / GEOMETRY_FILE)
    return {"onnx": report, "artifacts": training.digests(onnx_path, out / GEOMETRY_FILE)}


@dataclass(frozen=True, slots=True)
class Recipe:
    """The training recipe shared by `train` (all people) and `crossval` (per fold), so both run the same."""

    seed: int
    n_synth: int
    n_val: int
    epochs: int
    real_fraction: float
    synth_mode: str
    threads: int

    @property
    def synth_settings(self) -> synth.SynthSettings:
        return synth.SynthSettings.for_mode(self.synth_mode)


def recipe_options(fn: Any) -> Any:
    """The click options of Recipe (plus --data and --cache), shared by train and crossval."""
    options = [
        click.option(
            "--data",
            type=click.Path(path_type=Path, file_okay=False),
            default=Path("../shared/data"),
            show_default=True,
            help="Folder holding replay-dev/ and nuaa/.",
        ),
        click.option(
            "--cache",
            type=click.Path(path_type=Path, file_okay=False),
            default=Path(".cache/voxel3d"),
            show_default=True,
            help="Landmark-track and clip cache.",
        ),
        click.option("--seed", type=int, default=7, show_default=True),
        click.option("--n-synth", type=int, default=4000, show_default=True, help="Synthetic train clips."),
        click.option("--n-val", type=int, default=1000, show_default=True, help="Synthetic validation clips"),
        click.option("--epochs", type=int, default=6, show_default=True),
        click.option(
            "--real-fraction",
            type=click.FloatRange(0.0, 0.9),
            default=0.4,
            show_default=True,
            help="Share of the training weight given to real windows.",
        ),
        click.option(
            "--synth",
            "synth_mode",
            type=click.Choice(synth.MODES),
            default="realistic",
            show_default=True,
            help="Synthetic generator: 'realistic' adds correlated landmark noise, jaw-contour sliding and "
            "paper flexing; 'plain' is the first version.",
        ),
        click.option(
            "--threads",
            type=int,
            default=1,
            show_default=True,
            help="TensorFlow intra-op threads; 1 makes runs bit-reproducible (the reduction order is fixed).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything the recipe computes before TensorFlow: tracks, reference mesh, synthetic clip sets."""

    nuaa: list[Track]
    replay: list[Track]
    mesh: FaceMesh
    synthetic_train: ClipSet
    synthetic_val: ClipSet
    replay_live_train: ClipSet


def prepare(data: Path, cache: Path, recipe: Recipe) -> Prepared:
    """Tracks, reference face from replay-dev live, synthetic sets (both cached), replay-dev live windows."""
    replay = replay_dev_tracks(data / "replay-dev", cache / "tracks")
    nuaa = nuaa_tracks(data / "nuaa", cache / "tracks")
    replay_live = [t for t in replay if t.is_live]
    reference = derive_reference(replay_live)
    mesh = FaceMesh.build(reference, triangulate(reference))
    settings = recipe.synth_settings
    clips = cache / "clips"
    return Prepared(
        nuaa=nuaa,
        replay=replay,
        mesh=mesh,
        synthetic_train=cached_synthetic_set(
            recipe.n_synth, mesh, recipe.seed, f"synthetic train {recipe.synth_mode}", settings, clips
        ),
        synthetic_val=cached_synthetic_set(
            recipe.n_val, mesh, recipe.seed + 1000, f"synthetic val {recipe.synth_mode}", settings, clips
        ),
        replay_live_train=real_training_set(replay_live, mesh, "replay-dev live windows"),
    )


@click.command()
@recipe_options
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(__file__).resolve().parents[1] / "models",
    help="Where the artifacts go.",
)
@click_errors()
def cli(data: Path, cache: Path, out: Path, **recipe_args: Any) -> None:
    """Train the voxel3d structure-from-motion test on every person and write ONNX, geometry npz and metrics.

    The subject-disjoint validation of this recipe is `python -m voxel3d.crossval` (models/crossval.json).
    """
    recipe = Recipe(**recipe_args)
    prep = prepare(data, cache, recipe)
    nuaa_train = real_training_set(prep.nuaa, prep.mesh, "nuaa windows")
    train, weights = training_weights(
        [prep.synthetic_train, nuaa_train, prep.replay_live_train], recipe.real_fraction
    )
    real_eval = {
        "nuaa_TRAINING_DATA": real_set(prep.nuaa, prep.mesh, EVAL_FRAMES, EVAL_FRAMES // 2),
        "replay_dev_spoof": real_set(
            [t for t in prep.replay if not t.is_live], prep.mesh, EVAL_FRAMES, EVAL_FRAMES // 2
        ),
    }
    fitted = fit(train, weights, prep.synthetic_val, prep.mesh, recipe.seed, recipe.epochs, recipe.threads)

    val = prep.synthetic_val
    report: dict[str, Any] = {
        "version": VERSION,
        "recipe": asdict(recipe),
        "n_synth_train": len(prep.synthetic_train.labels),
        "n_nuaa_train_windows": len(nuaa_train.labels),
        "n_replay_live_train_windows": len(prep.replay_live_train.labels),
        "min_pose_deg": fitted.geometry.min_pose_deg,
        "min_rotation_deg": fitted.geometry.min_rotation_deg,
        "synthetic_val_gates": fitted.gates,
    }
    kept = fitted.gate(val)
    kinds = np.array(val.tags)
    net_val = fitted.net_scores(val)
    report["synthetic_val"] = {
        "kept_fraction": float(kept.mean()),
        "cnn": _rates(net_val[kept], val.labels[kept], 0.5),
        "planarity": _rates(fitted.planarity_scores(val)[kept], val.labels[kept], 0.5),
        "per_kind": {
            k: {
                "kept": float(kept[kinds == k].mean()),
                "accuracy": float(np.mean((net_val[kept & (kinds == k)] >= 0.5) == (k == "live"))),
            }
            for k in synth.KINDS
        },
    }
    for name, c in real_eval.items():
        ok = fitted.gate(c)
        report[name] = {
            "windows": len(c.labels),
            "frames_per_window": EVAL_FRAMES,
            "kept_fraction_live": float(np.mean(ok[c.labels == 1])) if (c.labels == 1).any() else None,
            "kept_fraction_spoof": float(np.mean(ok[c.labels == 0])) if (c.labels == 0).any() else None,
            "cnn": _rates(fitted.net_scores(c)[ok], c.labels[ok], 0.5),
            "planarity": _rates(fitted.planarity_scores(c)[ok], c.labels[ok], 0.5),
        }
    report.update(write_artifacts(fitted, val, out))
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    cli()
