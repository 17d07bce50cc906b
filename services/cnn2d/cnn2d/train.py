"""Train the multi-scale CNN on NUAA (+ replay-dev), validate on held-out subjects and sources, export ONNX.

`liveness train cnn2d --data DIR` (or `python -m cnn2d.train --data DIR`), DIR holding nuaa/ and replay-dev/:

1. detect and crop every face once into `--cache` (npz; see cnn2d.data);
2. train the served model on all NUAA subjects and (with `--replay`, the default) all of replay-dev,
   export ONNX with a dynamic batch, check max |keras - onnx| <= 1e-4, write `cnn2d.onnx` into `--out`;
3. with `--folds k`, train one model per subject-disjoint NUAA fold; each fold also holds out one replay-dev
   source (person) in turn, and scores what it held out (APCER/BPCER/ACER at the 0.5 threshold, EER, and
   one decision per replay-dev clip).

Every model is `--members` networks trained from seeds seed, seed + 1, ... and served as one graph that
averages their softmaxes: single networks of this recipe differ by points of ACER on a held-out fold. With
`--mirror` (the default) the graph also averages each network's answer for the mirror image of the crops.

`metrics.json` (quoted by MODEL_CARD.md) is rewritten after every stage. The recipe has a fixed length (no
early stopping on validation data) and fixed seeds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from cnn2d.augment import AugmentSettings, augment_face
from cnn2d.data import Crops, cached
from cnn2d.model import CROP_SIZE, INPUT_NAME, LIVE_CLASS, PAD, SCALES
from cnn2d.net import MIRROR_LAYER, NetSettings
from liveness import iso30107, training
from liveness.clierrors import click_errors
from liveness.data.samples import nuaa, stratified_subject_folds
from liveness.errors import InvalidInput
from liveness.types import Box

log = logging.getLogger(__name__)

VERSION = "1.2.0"
THRESHOLD = 0.5
EMA = 0.0
"""Momentum of the weight average the recipe returns (0 = the last step's weights); see train_model."""
MEMBERS = 3
"""Networks per model, trained from seeds seed, seed + 1, ...; the served graph averages their softmaxes."""
MIRROR = True
"""Whether the served graph also averages each network over the crops' mirror image (cnn2d.net.average)."""


def _batches(crops: Crops, batch_size: int, epochs: int, seed: int, aug: AugmentSettings) -> Any:
    """A keras PyDataset of augmented batches: x (B, n_scales, size, size, 3), y one-hot for every output."""
    import keras

    class _Faces(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self.order = np.random.default_rng(seed).permutation(len(crops))

        def __len__(self) -> int:
            return int(np.ceil(len(crops) / batch_size))

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = np.random.default_rng(seed + self.epoch).permutation(len(crops))

        def __getitem__(
            self, index: int
        ) -> tuple[npt.NDArray[np.float32], tuple[npt.NDArray[np.float32], ...]]:
            rows = self.order[index * batch_size : (index + 1) * batch_size]
            rng = np.random.default_rng((seed, self.epoch, index))
            xs, ys = [], []
            for r in rows:
                box = Box(*(float(v) for v in crops.boxes[r]))
                x, live = augment_face(
                    crops.context[r], box, bool(crops.live[r]), rng, SCALES, CROP_SIZE, aug
                )
                xs.append(x)
                ys.append(live)
            y = np.zeros((len(ys), 2), np.float32)
            y[np.arange(len(ys)), np.asarray(ys, dtype=int)] = 1.0  # column LIVE_CLASS=1 is live
            x_batch = np.stack(xs).astype(np.float32)
            return x_batch, (y,) * (1 + len(SCALES))

    return _Faces()


def train_model(
    crops: Crops,
    epochs: int,
    batch_size: int,
    seed: int,
    aug: AugmentSettings,
    desc: str,
    net: NetSettings | None = None,
    ema: float = 0.0,
) -> Any:
    """Train a fresh network on `crops`; returns the inference (single-output) Keras model.

    MS-FANS schedule: auxiliary per-scale losses weigh 0.5 for the first half of training, then 0, so the
    streams first learn to separate on their own and the fusion is tuned last. `ema` > 0 keeps an
    exponential moving average of the weights (that momentum per step) and returns it: an average of the
    late weights varies less between seeds and subjects than the last step's weights.
    """
    import keras

    from cnn2d.net import build

    training.seed_everything(seed)
    train, infer = build(len(SCALES), CROP_SIZE, net or NetSettings(), input_name=INPUT_NAME)
    data = _batches(crops, batch_size, epochs, seed, aug)
    steps = len(data) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.02, warmup_steps=0)
    optimizer = keras.optimizers.Adam(schedule, use_ema=ema > 0, ema_momentum=ema or 0.99)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.05)
    first = max(1, epochs // 2)
    log.info("%s: %d faces (%d live), %d epochs", desc, len(crops), int(crops.live.sum()), epochs)
    for phase, (start, stop, aux_weight) in enumerate(((0, first, 0.5), (first, epochs, 0.0))):
        if stop <= start:
            continue
        train.compile(
            optimizer=optimizer,
            loss=[loss] * (1 + len(SCALES)),
            loss_weights=[1.0] + [aux_weight] * len(SCALES),
        )
        click.echo(f"{desc}: phase {phase + 1} (aux loss weight {aux_weight}), epochs {start + 1}-{stop}")
        train.fit(data, initial_epoch=start, epochs=stop, verbose=1)
    return infer


def train_members(
    crops: Crops,
    members: int,
    epochs: int,
    batch_size: int,
    seed: int,
    aug: AugmentSettings,
    desc: str,
    net: NetSettings | None = None,
    ema: float = 0.0,
    mirror: bool = MIRROR,
) -> Any:
    """`members` networks from seeds seed, seed + 1, ... on the same faces, as one averaging model."""
    from cnn2d.net import average

    models = [
        train_model(crops, epochs, batch_size, seed + k, aug, f"{desc} member {k + 1}/{members}", net, ema)
        for k in range(members)
    ]
    return average(models, input_name=INPUT_NAME, mirror=mirror)


def predict(model: Any, inputs: npt.NDArray[np.uint8], batch_size: int = 256) -> npt.NDArray[np.float64]:
    """P(live) of exact serving inputs (N, n_scales, size, size, 3)."""
    out = [
        model(inputs[i : i + batch_size].astype(np.float32), training=False).numpy()[:, LIVE_CLASS]
        for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _nuaa_fold_masks(
    data_root: Path, crops: Crops, k: int, seed: int
) -> list[tuple[list[str], npt.NDArray[np.bool_]]]:
    """(validation subjects, validation mask over crops) for each of the k subject-disjoint folds."""
    folds = stratified_subject_folds(nuaa(data_root / "nuaa"), k, seed=seed)
    out = []
    for _, val in folds:
        subjects = sorted({s.subject for s in val})
        out.append((subjects, np.isin(crops.group, subjects)))
    return out


def _summary(scores: npt.NDArray[np.float64], live: npt.NDArray[np.bool_], attack: str) -> dict[str, Any]:
    attacks = [attack] * len(live)
    return iso30107.summarize(scores, live, attacks, threshold=THRESHOLD).to_dict()


def replay_report(scores: npt.NDArray[np.float64], crops: Crops) -> dict[str, Any]:
    """Frame-level rates and one decision per clip (mean P(live) over its faces >= threshold)."""
    clips = {}
    for clip in sorted(set(crops.clip.tolist())):
        mask = crops.clip == clip
        live = bool(crops.live[mask][0])
        mean = float(scores[mask].mean())
        clips[clip] = {
            "live": live,
            "faces": int(mask.sum()),
            "mean_score": mean,
            "frames_accepted": float((scores[mask] >= THRESHOLD).mean()),
            "decided_live": mean >= THRESHOLD,
            "correct": (mean >= THRESHOLD) == live,
        }
    return {
        "frames": _summary(scores, crops.live, "replay"),
        "clips": clips,
        "clips_correct": sum(c["correct"] for c in clips.values()),
        "clips_total": len(clips),
    }


def export_onnx(model: Any, path: Path, probe: npt.NDArray[np.uint8]) -> dict[str, Any]:
    """cnn2d.onnx with its metadata (liveness.training.export_onnx checks parity with Keras on `probe`)."""
    meta = {
        "version": VERSION,
        "scales": ",".join(str(s) for s in SCALES),
        "crop_size": str(CROP_SIZE),
        "colour_order": "RGB",
        "input_range": "0-255 float32, (batch, scales, size, size, 3)",
        "output": "softmax [P(spoof), P(live)]",
        "crop": "liveness.vision.face.crops around the HOG box",
        "pad": PAD,
        "mirror_average": str(any(layer.name == MIRROR_LAYER for layer in model.layers)).lower(),
    }
    return training.export_onnx(model, path, meta, probe)


def nuaa_session(clip: str) -> str:
    """NUAA's session from a file name `ID_glasses_pos_session_picNo.jpg`."""
    return clip.split("_")[3]


def domains_of(crops: Crops, dataset: str) -> npt.NDArray[np.str_]:
    """Each face's domain as liveness.data.protocols names it: "nuaa/s01", "replay-dev/krzysiek",
    "replay-more/tricky"."""
    if dataset == "nuaa":
        return np.asarray([f"nuaa/s{nuaa_session(c)}" for c in crops.clip.tolist()], dtype=str)
    return np.asarray([f"{dataset}/{g}" for g in crops.group.tolist()], dtype=str)


def without(crops: Crops, dataset: str, hold_out: str) -> Crops:
    """`crops` less the faces whose domain starts with `hold_out` (nothing held out when it is empty)."""
    if not hold_out:
        return crops
    return crops.take(~np.char.startswith(domains_of(crops, dataset), hold_out))


@dataclass(frozen=True, slots=True)
class Recipe:
    """How every model of a protocol run is trained."""

    members: int
    epochs: int
    batch_size: int
    seed: int
    aug: AugmentSettings
    net: NetSettings
    mirror: bool
    nuaa_every: int = 1

    def train(self, nuaa_part: Crops, extra: Crops | None, desc: str) -> tuple[Any, int]:
        """A model trained on every `nuaa_every`-th NUAA face and `extra`; and how many faces it saw."""
        train_set = _training_set(_every(nuaa_part, self.nuaa_every), extra)
        model = train_members(
            train_set,
            self.members,
            self.epochs,
            self.batch_size,
            self.seed,
            self.aug,
            desc,
            self.net,
            EMA,
            self.mirror,
        )
        return model, len(train_set)


def cross_session_folds(nuaa_crops: Crops, extra: Crops | None, recipe: Recipe) -> list[dict[str, Any]]:
    """liveness.data.protocols' cross-session folds: a model trained on one NUAA session (and `extra`, the
    replay faces, already up-weighted) scores the other at the fixed threshold; each fold's ISO figures with
    counts and its per-face scores."""
    from liveness.data.protocols import folds

    rows = []
    for fold in folds("cross-session", domains_of(nuaa_crops, "nuaa"), nuaa_crops.group):
        model, seen = recipe.train(nuaa_crops.take(fold.train), extra, fold.name)
        test = nuaa_crops.take(fold.test)
        # keyed "live/<file>" or "spoof/<file>": NUAA repeats 165 file names between live/ and spoof/
        keys = [
            f"{'live' if v else 'spoof'}/{c}"
            for c, v in zip(test.clip.tolist(), test.live.tolist(), strict=True)
        ]
        rows.append(_held_out_row(fold.name, seen, predict(model, test.inputs), test, keys, "print"))
    return rows


def cross_source_folds(
    nuaa_crops: Crops,
    replay: Crops | None,
    replay_repeat: int,
    more: Crops,
    more_repeat: int,
    sources: Sequence[str],
    recipe: Recipe,
) -> list[dict[str, Any]]:
    """Leave one replay-more source out: a model trained on NUAA, replay-dev (None: not) and the other
    replay-more sources scores the held-out source (its own camera, screen and room) at the fixed
    threshold; each fold's ISO figures with counts and its per-face scores, keyed by the image's path under
    the data root."""
    rows = []
    for source in sources:
        held = more.group == source
        if not held.any():
            raise InvalidInput(f"replay-more holds no face of source {source!r}")
        extra = _replay_faces(replay, replay_repeat, more.take(~held), more_repeat)
        desc = f"replay-more/{source}"
        model, seen = recipe.train(nuaa_crops, extra, desc)
        test = more.take(held)
        rows.append(_held_out_row(desc, seen, predict(model, test.inputs), test, list(test.clip), "replay"))
    return rows


def _held_out_row(
    name: str, train_faces: int, scores: npt.NDArray[np.float64], test: Crops, keys: list[str], attack: str
) -> dict[str, Any]:
    summary = iso30107.summarize(
        scores, test.live, [attack] * len(test), threshold=THRESHOLD, with_intervals=True
    )
    out = summary.to_dict()
    click.echo(iso30107.fold_table_head() + "\n" + iso30107.fold_line(f"{name} held out", out))
    return {
        "fold": name,
        "train_faces": train_faces,
        "faces": out,
        "scores": {k: round(float(p), 6) for k, p in zip(keys, scores, strict=True)},
    }


def _every(crops: Crops, n: int) -> Crops:
    """Every n-th face (NUAA's images are near-duplicate neighbouring frames of a few recordings)."""
    return crops if n <= 1 else crops.take(np.arange(0, len(crops), n))


def _repeat(crops: Crops, times: int) -> Crops:
    return crops.take(np.tile(np.arange(len(crops)), times))


def _training_set(nuaa_part: Crops, extra: Crops | None) -> Crops:
    """NUAA faces plus (optionally) the replay faces, already repeated: replay-dev holds only two people's
    screen replays against 3,500 NUAA print faces, so it is up-weighted to be learnt at all."""
    if extra is None or len(extra) == 0:
        return nuaa_part
    return Crops.concat(nuaa_part, extra)


def _replay_faces(
    replay: Crops | None, replay_repeat: int, more: Crops | None, more_repeat: int
) -> Crops | None:
    """The replay faces a model trains on beside NUAA: replay-dev and replay-more, each repeated."""
    parts = [
        _repeat(c, r) for c, r in ((replay, replay_repeat), (more, more_repeat)) if c is not None and len(c)
    ]
    return Crops.concat(*parts) if parts else None


FINAL_KEYS = ("final_train_s", "replay_dev_final_model", "onnx", "artifacts")
RECIPE_KEYS = (
    "seed",
    "epochs",
    "batch_size",
    "augment",
    "net",
    "ema",
    "members",
    "mirror",
    "replay_repeat",
    "train_on_replay_dev",
    "replay_more_repeat",
    "nuaa_every",
)
"""Settings a fold file must share with the run that merges it."""


def _fold_row_from_file(path: Path, report: dict[str, Any], fold: int) -> dict[str, Any]:
    """The fold row that `--fold-only N` wrote to `path`, refused unless it used this run's recipe."""
    if not path.is_file():
        raise InvalidInput(f"--merge-folds: {path} is missing (run --fold-only {fold} first)")
    other = json.loads(path.read_text())
    differ = [k for k in RECIPE_KEYS if other.get(k) != json.loads(json.dumps(report.get(k)))]
    if differ:
        raise InvalidInput(f"--merge-folds: {path} was trained with other settings: {differ}")
    rows = [r for r in other.get("nuaa_folds", []) if r["fold"] == fold]
    if len(rows) != 1:
        raise InvalidInput(f"--merge-folds: {path} holds no result for fold {fold}")
    return dict(rows[0])


def _fold_summary(
    report: dict[str, Any],
    fold_rows: list[dict[str, Any]],
    replay_scores: npt.NDArray[np.float64],
    replay: Crops,
    use_replay: bool,
) -> None:
    """Fold rows, their mean ACER/EER and (once every source is held out) the pooled replay-dev report."""
    report["nuaa_folds"] = fold_rows
    report["nuaa_mean_acer"] = float(np.mean([r["at_threshold"]["acer"] for r in fold_rows]))
    report["nuaa_mean_eer"] = float(np.mean([r["eer"] for r in fold_rows]))
    if use_replay and not np.isnan(replay_scores).any():
        report["replay_dev_held_out"] = replay_report(replay_scores, replay)


def validate_folds(
    report: dict[str, Any],
    data: Path,
    nuaa_crops: Crops,
    replay: Crops,
    folds: int,
    *,
    fold_only: int | None,
    merged_from: Path | None,
    use_replay: bool,
    replay_repeat: int,
    more: Crops | None,
    more_repeat: int,
    recipe: Recipe,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """The recipe's subject-disjoint validation, into `report` (nuaa_folds, their means, the pooled
    replay-dev held-out report): fold i holds out a third of the NUAA subjects and, with `use_replay`, one
    replay-dev source in turn, trains on the rest and scores both held-out parts. Only fold `fold_only`
    when given; with `merged_from`, the folds are read from the metrics-fold<i>.json files earlier
    `--fold-only` runs wrote there (InvalidInput when one is missing or used another recipe). `on_fold`
    sees each trained fold's row as it is done. Both held-out parts in one model per fold halve the
    training time of separate NUAA and replay-dev validation on a shared 2-core machine."""
    sources = sorted(set(replay.group.tolist()))
    fold_rows = []
    replay_scores = np.full(len(replay), np.nan)
    for i, (subjects, val_mask) in enumerate(_nuaa_fold_masks(data, nuaa_crops, folds, recipe.seed)):
        if fold_only is not None and i != fold_only:
            continue
        held_source = sources[i % len(sources)]
        held = replay.group == held_source
        if merged_from is not None:
            merged = _fold_row_from_file(merged_from / f"metrics-fold{i}.json", report, i)
            if use_replay and np.isnan(replay_scores[held]).all():
                replay_scores[held] = merged["replay_dev_held_out"]["scores"]
            fold_rows.append(merged)
            _fold_summary(report, fold_rows, replay_scores, replay, use_replay)
            continue
        t0 = time.perf_counter()
        extra = _replay_faces(replay.take(~held) if use_replay else None, replay_repeat, more, more_repeat)
        model, seen = recipe.train(nuaa_crops.take(~val_mask), extra, f"fold {i + 1}/{folds}")
        val = nuaa_crops.take(val_mask)
        row: dict[str, Any] = {
            "fold": i,
            "val_subjects": subjects,
            "train_faces": seen,
            "train_s": time.perf_counter() - t0,
            **_summary(predict(model, val.inputs), val.live, "print"),
        }
        if use_replay:
            scores = predict(model, replay.inputs[held])
            row["replay_dev_held_out"] = {
                "source": held_source,
                **replay_report(scores, replay.take(held)),
                "scores": scores.tolist(),  # per face, so folds run apart can be merged
            }
            if np.isnan(replay_scores[held]).all():  # the first fold that holds a source out scores it
                replay_scores[held] = scores
        else:
            row["replay_dev_cross_dataset"] = replay_report(predict(model, replay.inputs), replay)
        fold_rows.append(row)
        _fold_summary(report, fold_rows, replay_scores, replay, use_replay)
        if on_fold is not None:
            on_fold(row)


@click.command()
@click.option(
    "--data",
    "data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder holding nuaa/ and replay-dev/.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(__file__).resolve().parents[1] / "models",
    show_default=True,
    help="Where cnn2d.onnx and metrics.json go.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--epochs", type=int, default=6, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option(
    "--folds",
    type=int,
    default=3,
    show_default=True,
    help="Subject-disjoint NUAA folds to validate on first; 0 skips them.",
)
@click.option(
    "--replay/--no-replay",
    "use_replay",
    default=True,
    show_default=True,
    help="Train on replay-dev too; each fold then also holds out one replay-dev source in turn.",
)
@click.option(
    "--replay-repeat", type=int, default=2, show_default=True, help="Up-weighting of replay-dev faces."
)
@click.option(
    "--final/--no-final",
    default=True,
    show_default=True,
    help="Train and export the served model on everything.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".cache/cnn2d"),
    show_default=True,
    help="Face-crop cache (detection runs once).",
)
@click.option(
    "--fold-only",
    type=int,
    default=None,
    help="Run only this fold (0-based) and write metrics-fold<N>.json: folds can then run in parallel.",
)
@click.option(
    "--merge-folds",
    is_flag=True,
    help="Take the folds from metrics-fold<N>.json (earlier --fold-only runs with the same settings) "
    "instead of training them; with --no-final, merge them into the existing metrics.json.",
)
@click.option(
    "--members",
    type=int,
    default=MEMBERS,
    show_default=True,
    help="Networks per model (seeds seed, seed + 1, ...), averaged in one graph.",
)
@click.option(
    "--mirror/--no-mirror",
    default=MIRROR,
    show_default=True,
    help="Average every network over the mirror image of the crops too (in the exported graph).",
)
@click.option("--threads", type=int, default=2, show_default=True, help="TensorFlow intra-op threads.")
@click.option(
    "--white-balance",
    type=float,
    default=None,
    help="Per-channel gain range of the colour augmentation (default: the recipe's AugmentSettings).",
)
@click.option(
    "--cross-session",
    is_flag=True,
    help="Run NUAA's cross-session protocol instead (train on one session + replay-dev, test on the other; "
    "liveness.data.protocols) and write metrics-cross-session.json; no artifact.",
)
@click.option(
    "--replay-more",
    "replay_more_repeat",
    type=int,
    default=0,
    show_default=True,
    help="Train on replay-more's screen-replay sources too (faces found as the gateway finds them), each "
    "face this many times (0: not at all; --cross-source: at least once).",
)
@click.option(
    "--nuaa-every",
    type=int,
    default=1,
    show_default=True,
    help="Train on every n-th NUAA face (its images are neighbouring frames of a few recordings).",
)
@click.option(
    "--cross-source",
    "cross_sources",
    default="",
    help="Leave out these replay-more sources in turn (comma-separated, or 'all'): each is scored by a model "
    "trained on NUAA, replay-dev and the other sources; writes metrics-cross-source.json; no artifact.",
)
@click.option(
    "--hold-out",
    "hold_out",
    default="",
    help="Leave out the faces of the domains starting with this (e.g. replay-dev/krzysiek, nuaa/s01) from "
    "the served model's training: it then scores that domain as unseen (`liveness eval --protocol ... "
    "--fold DOMAIN` with CNN2D_MODEL_PATH).",
)
@click_errors()
def cli(
    data: Path,
    out: Path,
    seed: int,
    epochs: int,
    batch_size: int,
    folds: int,
    use_replay: bool,
    replay_repeat: int,
    final: bool,
    cache: Path,
    fold_only: int | None,
    merge_folds: bool,
    members: int,
    mirror: bool,
    threads: int,
    white_balance: float | None,
    cross_session: bool,
    replay_more_repeat: int,
    nuaa_every: int,
    cross_sources: str,
    hold_out: str,
) -> None:
    """Train the cnn2d multi-scale CNN, validate it, and export the ONNX artifact."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    training.tensorflow(threads)
    started = time.perf_counter()
    aug, net = AugmentSettings(), NetSettings()
    if white_balance is not None:
        aug = replace(aug, white_balance=white_balance)
    recipe = Recipe(members, epochs, batch_size, seed, aug, net, mirror, nuaa_every)
    nuaa_crops = cached(cache, "nuaa", data)
    replay = cached(cache, "replay-dev", data)
    more_repeat = max(replay_more_repeat, 1) if cross_sources else replay_more_repeat
    more = cached(cache, "replay-more", data) if more_repeat else None
    sources: list[str] = []
    if cross_sources and more is not None:  # checked before any training
        known = sorted(set(more.group.tolist()))
        sources = known if cross_sources == "all" else cross_sources.split(",")
        unknown = sorted(set(sources) - set(known))
        if unknown:
            raise click.BadParameter(f"{unknown} not among replay-more's sources {known}")
    if hold_out:
        if cross_session or cross_sources or folds:
            raise click.UsageError("--hold-out trains the served model only: give --folds 0, no protocol")
        parts = [("nuaa", nuaa_crops), ("replay-dev", replay)] + ([("replay-more", more)] if more else [])
        held = sum(len(c) - len(without(c, name, hold_out)) for name, c in parts)
        if not held:
            raise click.BadParameter(f"--hold-out {hold_out!r} matches no training face")
        nuaa_crops, replay = without(nuaa_crops, "nuaa", hold_out), without(replay, "replay-dev", hold_out)
        more = None if more is None else without(more, "replay-more", hold_out)
        click.echo(f"--hold-out {hold_out}: {held} faces left out")
    trained_replay = replay if use_replay else None  # replay-dev as the protocol and final models see it
    report: dict[str, Any] = {
        "version": VERSION,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "scales": list(SCALES),
        "crop_size": CROP_SIZE,
        "threshold": THRESHOLD,
        "augment": asdict(aug),
        "net": asdict(net),
        "ema": EMA,
        "members": members,
        "mirror": mirror,
        "nuaa_faces": len(nuaa_crops),
        "replay_dev_faces": len(replay),
        "train_on_replay_dev": use_replay,
        "replay_repeat": replay_repeat if use_replay else 0,
        "replay_more_faces": 0 if more is None else len(more),
        "replay_more_repeat": more_repeat,
        "nuaa_every": nuaa_every,
        "hold_out": hold_out,
    }
    out.mkdir(parents=True, exist_ok=True)
    if cross_session or cross_sources:
        protocols: dict[str, Any] = {}
        if cross_session:
            protocols["cross-session"] = cross_session_folds(
                nuaa_crops,
                _replay_faces(trained_replay, replay_repeat, more, more_repeat),
                recipe,
            )
        if more is not None and sources:
            protocols["cross-source"] = cross_source_folds(
                nuaa_crops, trained_replay, replay_repeat, more, more_repeat, sources, recipe
            )
        report["protocols"] = protocols
        report["total_s"] = time.perf_counter() - started
        name = "metrics-cross-session.json" if not cross_sources else "metrics-cross-source.json"
        if cross_session and cross_sources:
            name = "metrics-held-out.json"
        (out / name).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return
    if fold_only is not None:
        final = merge_folds = False
        metrics_path = out / f"metrics-fold{fold_only}.json"
    elif merge_folds and not final:
        metrics_path = out / "metrics.json"
        if metrics_path.is_file():  # keep the served model's figures, replace the folds
            previous = json.loads(metrics_path.read_text())
            report.update({k: previous[k] for k in FINAL_KEYS if k in previous})
    else:
        metrics_path = out / ("metrics.json" if final else "metrics-validation.json")

    def write() -> None:
        """Rewritten after every stage, so an interrupted run keeps what it has measured."""
        report["total_s"] = time.perf_counter() - started
        metrics_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")

    def fold_done(row: dict[str, Any]) -> None:
        r = row["at_threshold"]
        click.echo(
            f"fold {row['fold'] + 1}: subjects {row['val_subjects']} APCER {r['apcer']:.4f} "
            f"BPCER {r['bpcer']:.4f} ACER {r['acer']:.4f} EER {row['eer']:.4f}"
        )
        write()

    if final:
        t0 = time.perf_counter()
        extra = _replay_faces(trained_replay, replay_repeat, more, more_repeat)
        model, _ = recipe.train(nuaa_crops, extra, "final")
        report["final_train_s"] = time.perf_counter() - t0
        if len(replay):  # on data it was trained on when --replay: a sanity check, not a validation figure
            report["replay_dev_final_model"] = replay_report(predict(model, replay.inputs), replay)
            rep = report["replay_dev_final_model"]
            click.echo(f"replay-dev (final model): {rep['clips_correct']}/{rep['clips_total']} clips correct")
        probe = nuaa_crops.inputs[:: max(1, len(nuaa_crops) // 64)]
        report["onnx"] = export_onnx(model, out / "cnn2d.onnx", probe)
        report["artifacts"] = training.digests(out / "cnn2d.onnx")
        write()
    if folds:
        validate_folds(
            report,
            data,
            nuaa_crops,
            replay,
            folds,
            fold_only=fold_only,
            merged_from=out if merge_folds else None,
            use_replay=use_replay,
            replay_repeat=replay_repeat,
            more=more,
            more_repeat=more_repeat,
            recipe=recipe,
            on_fold=fold_done,
        )
    write()
    click.echo(f"wrote {metrics_path} ({report['total_s']:.0f} s)")


if __name__ == "__main__":
    cli()
