"""Train the temporal test's two networks and export them to ONNX with a metrics JSON for the model card.

`--target expression`: FER2013 neutral/happy/surprise classifier (seed 002's challenge branch), from scratch.
`--target sequence`: LSTM-CNN live/spoof over face-crop sequences (seed 004), on replay-dev videos, NUAA
frame runs and synthetic print/screen sequences made from NUAA stills (see `temporal.sequence_data`).

Decoded data are cached under `--cache` (FER arrays, face crops), so a rerun skips decoding and detection.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from liveness import training
from liveness.clierrors import click_errors
from temporal.expression import EXPRESSIONS, INPUT_NAME, INPUT_SIZE
from temporal.sequence import CROP_SCALE, CROP_SIZE, SEQ_LEN
from temporal.sequence import INPUT_NAME as SEQ_INPUT

EXPRESSION_FILE = "expression.onnx"
SEQUENCE_FILE = "sequence.onnx"


# --- expression (FER2013) -------------------------------------------------------------------------------


def load_fer(fer_root: Path, cache: Path) -> dict[str, npt.NDArray[Any]]:
    """FER2013 train/val/test images of EXPRESSIONS as uint8 (n, 48, 48) and int labels; cached as npz."""
    path = cache / "fer_expressions.npz"
    if path.exists():
        with np.load(path) as npz:
            return {k: npz[k] for k in npz.files}
    import cv2
    from tqdm import tqdm

    arrays: dict[str, npt.NDArray[Any]] = {}
    for split in ("train", "val", "test"):
        images, labels = [], []
        files = [
            (f, c)
            for c, name in enumerate(EXPRESSIONS)
            for f in sorted((fer_root / split / name).glob("*.jpg"))
        ]
        if not files:
            raise click.ClickException(f"{fer_root / split}: no FER2013 images of {EXPRESSIONS}")
        for file, label in tqdm(files, desc=f"decode fer2013/{split}", unit="img"):
            grey = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if grey is None:
                raise click.ClickException(f"{file}: unreadable image")
            if grey.shape != (INPUT_SIZE, INPUT_SIZE):
                grey = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
            images.append(grey)
            labels.append(label)
        arrays[f"x_{split}"] = np.stack(images).astype(np.uint8)
        arrays[f"y_{split}"] = np.array(labels, dtype=np.int64)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy's stub types ** as allow_pickle
    return arrays


def build_expression_net(width: int = 24) -> Any:
    """A FaceLiveNet-sized (about 0.35 M parameters) VGG-style CNN: 48x48x1 -> softmax over EXPRESSIONS."""
    import keras
    from keras import layers

    def conv(x: Any, filters: int) -> Any:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name=INPUT_NAME)
    x = conv(inputs, width)
    x = layers.MaxPooling2D()(x)
    x = conv(conv(x, 2 * width), 2 * width)
    x = layers.MaxPooling2D()(x)
    x = conv(conv(x, 4 * width), 4 * width)
    x = layers.MaxPooling2D()(x)
    x = conv(x, 8 * width)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(len(EXPRESSIONS), activation="softmax", name="expression")(x)
    return keras.Model(inputs, outputs, name="expression_net")


def _augment(image: Any, label: Any) -> tuple[Any, Any]:
    """Random mirror and a shift of up to 4 px (reflect-padded crop): cheap enough for two shared cores."""
    import tensorflow as tf

    image = tf.image.random_flip_left_right(image)
    padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="REFLECT")
    return tf.image.random_crop(padded, (INPUT_SIZE, INPUT_SIZE, 1)), label


def train_expression(
    data: Path, out: Path, cache: Path, seed: int, epochs: int, from_checkpoint: bool = False
) -> dict[str, Any]:
    """Fit on FER train, select the epoch on FER val (PublicTest), report FER test (PrivateTest).

    `from_checkpoint` skips fitting and exports the best checkpoint an earlier (interrupted) run saved.
    """
    import keras
    import tensorflow as tf

    from temporal.expression import normalise_grey

    arrays = load_fer(data / "fer2013", cache)
    x_train = np.stack([normalise_grey(g) for g in arrays["x_train"]])
    x_val = np.stack([normalise_grey(g) for g in arrays["x_val"]])
    x_test = np.stack([normalise_grey(g) for g in arrays["x_test"]])
    y_train, y_val, y_test = arrays["y_train"], arrays["y_val"], arrays["y_test"]
    counts = np.bincount(y_train, minlength=len(EXPRESSIONS))
    class_weight = {i: float(len(y_train) / (len(EXPRESSIONS) * c)) for i, c in enumerate(counts)}

    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .map(_augment, num_parallel_calls=2)
        .batch(128)
        .prefetch(2)
    )
    model = build_expression_net()
    steps = epochs * int(np.ceil(len(x_train) / 128))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    best = cache / "expression_best.weights.h5"
    started = time.monotonic()
    val_history: list[float] = []
    if not from_checkpoint:
        history = model.fit(
            train_ds,
            validation_data=(x_val, y_val),
            epochs=epochs,
            class_weight=class_weight,
            callbacks=[
                keras.callbacks.ModelCheckpoint(
                    str(best), monitor="val_accuracy", save_best_only=True, save_weights_only=True
                )
            ],
            verbose=1,
        )
        val_history = [float(v) for v in history.history["val_accuracy"]]
    train_s = time.monotonic() - started
    model.load_weights(str(best))
    p_val = model.predict(x_val, batch_size=256, verbose=0)
    p_test = model.predict(x_test, batch_size=256, verbose=0)
    confusion = np.zeros((len(EXPRESSIONS), len(EXPRESSIONS)), dtype=int)
    for t, p in zip(y_test, p_test.argmax(1), strict=True):
        confusion[t, p] += 1
    metrics: dict[str, Any] = {
        "data": "FER2013 (shared copy, deduplicated): train=Training, val=PublicTest, test=PrivateTest",
        "classes": list(EXPRESSIONS),
        "counts": {s: np.bincount(arrays[f"y_{s}"], minlength=3).tolist() for s in ("train", "val", "test")},
        "val_accuracy": float((p_val.argmax(1) == y_val).mean()),
        "test_accuracy": float((p_test.argmax(1) == y_test).mean()),
        "test_recall_per_class": {
            name: float(confusion[i, i] / confusion[i].sum()) for i, name in enumerate(EXPRESSIONS)
        },
        "test_confusion_rows_true_cols_pred": confusion.tolist(),
        "val_accuracy_per_epoch": val_history,
        "epochs": epochs,
        "from_checkpoint": from_checkpoint,
        "train_seconds": round(train_s, 1),
        "parameters": int(model.count_params()),
        "seed": seed,
    }
    onnx_path = out / EXPRESSION_FILE
    metrics["onnx"] = export_onnx(
        model,
        onnx_path,
        {
            "version": "expression-1",
            "classes": ",".join(EXPRESSIONS),
            "input": "grey 48x48 in [0,1], NHWC",
            "crop_scale": "1.15",
            "data": "FER2013 train (research-only)",
        },
        x_test[:256],
    )
    metrics["artifacts"] = training.digests(onnx_path)
    return metrics


# --- sequence (LSTM-CNN) ---------------------------------------------------------------------------------


def build_sequence_net() -> Any:
    """Seed 004's LSTM-CNN, scaled to CPU: per-frame 3-conv CNN (TimeDistributed) -> LSTM(30) -> P(live).

    As in the seed, the LSTM's outputs at every step are stacked and classified by one output layer.
    """
    import keras
    from keras import layers

    inputs = keras.Input((SEQ_LEN, CROP_SIZE, CROP_SIZE, 3), name=SEQ_INPUT)
    x = inputs
    for filters in (16, 32, 64):
        # Batch norm after each conv: without it the [0, 1] inputs trained slowly (train loss 0.69, 0.66,
        # 0.63 in epochs 1-3, seed 7); with it 0.54 and 0.47 in epochs 1-2. Momentum 0.9: an epoch is only
        # 30 steps, and Keras's 0.99 would leave the inference statistics near their initial values for
        # several epochs, so the per-epoch validation (which picks the checkpoint) would read a stale net.
        x = layers.TimeDistributed(layers.Conv2D(filters, 3, padding="same", use_bias=False))(x)
        x = layers.TimeDistributed(layers.BatchNormalization(momentum=0.9))(x)
        x = layers.ReLU()(x)
        x = layers.TimeDistributed(layers.MaxPooling2D())(x)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.TimeDistributed(layers.Dense(64, activation="relu"))(x)
    x = layers.Dropout(0.3)(x)
    x = layers.LSTM(30, return_sequences=True)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="live")(x)
    return keras.Model(inputs, outputs, name="lstm_cnn")


def _species(source: str, label: int) -> str:
    if label == 1:
        return "none"
    if source == "nuaa":
        return "print"
    if source.startswith("synthetic-"):
        return source
    return "replay"


def _window_set(
    cache: Any, tracks: list[Any]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], list[str], list[str]]:
    from temporal.sequence_data import windows

    rows, labels, species, sources = [], [], [], []
    for t in tracks:
        stride = SEQ_LEN if t.source.startswith("synthetic") else (4 if t.source == "nuaa" else 2)
        for w in windows(t, cache.has_face, stride):
            rows.append(w)
            labels.append(float(t.label))
            species.append(_species(t.source, t.label))
            sources.append(t.source.split("-")[0] if t.source.startswith("synthetic") else t.source)
    x = cache.crops[np.array(rows)] if rows else np.zeros((0, SEQ_LEN, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return x, np.array(labels, np.float32), species, sources


HISTORY_FILE = "sequence_history.jsonl"
"""Per-epoch record of a sequence run in --cache, written as it goes, so an interrupted run keeps it."""


def _epoch_clock(path: Path) -> Any:
    """A Keras callback appending one JSON line per epoch: losses, val AUC, wall and CPU s, load average.

    CPU time is the process's (all threads); with the machine shared, wall time alone overstates the cost.
    """
    import keras

    class EpochClock(keras.callbacks.Callback):  # type: ignore[misc]  # keras has no type stubs
        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self._wall, self._cpu = time.monotonic(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            row: dict[str, Any] = {"epoch": epoch + 1}
            row.update({k: round(float(v), 5) for k, v in (logs or {}).items() if k != "learning_rate"})
            row["wall_s"] = round(time.monotonic() - self._wall, 1)
            row["cpu_s"] = round(time.process_time() - self._cpu, 1)
            row["load_1min"] = round(os.getloadavg()[0], 1)
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    return EpochClock()


def read_history(path: Path) -> list[dict[str, Any]]:
    """The per-epoch rows `_epoch_clock` wrote (empty when no run left any)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _short_summary(summary: dict[str, Any]) -> dict[str, Any]:
    at = summary["at_threshold"]
    return {
        "auc": summary["auc"],
        "eer": summary["eer"],
        "apcer_by_species": at["apcer_by_species"],
        "bpcer": at["bpcer"],
        "acer": at["acer"],
    }


def train_sequence(
    data: Path,
    out: Path,
    cache_dir: Path,
    seed: int,
    epochs: int,
    from_checkpoint: bool = False,
    learning_rate: float = 2e-3,
    patience: int = 4,
) -> dict[str, Any]:
    """Fit on the training people's windows; report EER/ACER on the held-out people's windows.

    Adam with a cosine-decayed learning rate over `epochs`; the checkpoint with the best validation AUC is
    kept and training stops after `patience` epochs without a better one. The held-out people therefore
    also choose the epoch: the metrics carry the last epoch's figures too, so the selection's optimism shows.
    `from_checkpoint` skips fitting and exports the best checkpoint an earlier (interrupted) run saved.
    """
    import keras
    import tensorflow as tf

    from liveness import iso30107
    from temporal.sequence import to_input
    from temporal.sequence_data import build_cache, load_cache, split_tracks

    build_cache(data, cache_dir, seed)
    cache = load_cache(cache_dir)
    train_tracks, val_tracks = split_tracks(cache.tracks)
    x_train, y_train, sp_train, _ = _window_set(cache, train_tracks)
    x_val, y_val, sp_val, src_val = _window_set(cache, val_tracks)
    live = float(y_train.mean())
    class_weight = {0: 0.5 / (1.0 - live), 1: 0.5 / live}

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        x = tf.cast(x, tf.float32) / 255.0
        flip = tf.random.uniform(()) < 0.5
        x = tf.cond(flip, lambda: tf.reverse(x, axis=[2]), lambda: x)
        x = tf.clip_by_value(
            x * tf.random.uniform((), 0.8, 1.2) + tf.random.uniform((), -0.08, 0.08), 0.0, 1.0
        )
        return x, y

    batch = 32
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .map(augment, num_parallel_calls=2)
        .batch(batch)
        .prefetch(2)
    )
    val_x = to_input(x_val)
    model = build_sequence_net()
    steps = epochs * int(np.ceil(len(x_train) / batch))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    best = cache_dir / "sequence_best.weights.h5"
    history_path = cache_dir / HISTORY_FILE
    is_live = y_val > 0.5
    load_start = os.getloadavg()
    wall0, cpu0 = time.monotonic(), time.process_time()
    last_epoch: dict[str, Any] | None = None
    if not from_checkpoint:
        model.fit(
            train_ds,
            validation_data=(val_x, y_val),
            epochs=epochs,
            class_weight=class_weight,
            callbacks=[
                keras.callbacks.ModelCheckpoint(
                    str(best), monitor="val_auc", mode="max", save_best_only=True, save_weights_only=True
                ),
                keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience),
                _epoch_clock(history_path),
            ],
            verbose=1,
        )
        p_last = model.predict(val_x, batch_size=64, verbose=0).reshape(-1)
        last_epoch = _short_summary(iso30107.summarize(p_last, is_live, sp_val, threshold=0.5).to_dict())
    train_s, train_cpu_s = time.monotonic() - wall0, time.process_time() - cpu0
    history = read_history(history_path)
    model.load_weights(str(best))
    p_val = model.predict(val_x, batch_size=64, verbose=0).reshape(-1)
    p_train = model.predict(to_input(x_train[::4]), batch_size=64, verbose=0).reshape(-1)
    overall = iso30107.summarize(p_val, is_live, sp_val, threshold=0.5).to_dict()
    per_source: dict[str, Any] = {}
    for source in sorted(set(src_val)):
        mask = np.array([s == source for s in src_val])
        if is_live[mask].any() and (~is_live[mask]).any():
            per_source[source] = iso30107.summarize(
                p_val[mask], is_live[mask], [sp_val[i] for i in np.flatnonzero(mask)], threshold=0.5
            ).to_dict()
    counts = {
        name: {"windows": int(len(sp)), "by_species": {k: sp.count(k) for k in sorted(set(sp))}}
        for name, sp in (("train", sp_train), ("validation", sp_val))
    }
    best_epoch = max(history, key=lambda r: r["val_auc"])["epoch"] if history else None
    metrics: dict[str, Any] = {
        "train_people": sorted({t.subject for t in train_tracks}),
        "validation_people": sorted({t.subject for t in val_tracks}),
        "windows": counts,
        "validation": overall,
        "validation_by_source": per_source,
        "train_accuracy_every_4th_window": float(((p_train >= 0.5) == (y_train[::4] > 0.5)).mean()),
        "selection": (
            f"checkpoint with the best validation AUC (epoch {best_epoch}); early stopping after "
            f"{patience} epochs without improvement; the validation people chose the epoch"
        ),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "max_epochs": epochs,
        "validation_last_epoch": last_epoch,
        "history": history,
        "learning_rate": {"adam_start": learning_rate, "cosine_decay_to": 0.05 * learning_rate},
        "from_checkpoint": from_checkpoint,
        "train_seconds": round(train_s, 1),
        "train_cpu_seconds": round(train_cpu_s, 1),
        "load_average_at_start": [round(v, 1) for v in load_start],
        "load_average_at_end": [round(v, 1) for v in os.getloadavg()],
        "parameters": int(model.count_params()),
        "seed": seed,
    }
    onnx_path = out / SEQUENCE_FILE
    metrics["onnx"] = export_onnx(
        model,
        onnx_path,
        {
            "version": "sequence-2",
            "input": f"{SEQ_LEN} RGB face crops {CROP_SIZE}x{CROP_SIZE} in [0,1], NTHWC",
            "crop_scale": str(CROP_SCALE),
            "colour": "RGB",
            "output": "P(live)",
            "data": "NUAA s01+s02, replay-dev, synthetic attacks from NUAA stills (research-only)",
        },
        val_x[:32],
    )
    metrics["artifacts"] = training.digests(onnx_path)
    return metrics


# --- ONNX export ------------------------------------------------------------------------------------------


def export_onnx(
    model: Any, path: Path, metadata: dict[str, str], probe: npt.NDArray[np.float32]
) -> dict[str, Any]:
    """liveness.training.export_onnx, with the output named after the Keras output layer."""
    names = [o.name.split(":")[0].split("/")[0] for o in model.outputs]
    return training.export_onnx(model, path, metadata, probe, output_names=names)


# --- command ----------------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("../shared/data"),
    show_default=True,
    help="Folder holding fer2013/, nuaa/ and replay-dev/.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("services/temporal/models"),
    show_default=True,
    help="Where the ONNX artifacts and metrics JSON go.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--target", type=click.Choice(["expression", "sequence", "all"]), default="all", show_default=True
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".cache/temporal"),
    show_default=True,
    help="Decoded arrays and face crops are kept here between runs.",
)
@click.option("--expression-epochs", type=int, default=10, show_default=True)
@click.option(
    "--sequence-epochs",
    type=int,
    default=12,
    show_default=True,
    help="Most epochs (early stopping may end sooner).",
)
@click.option(
    "--sequence-lr", type=float, default=2e-3, show_default=True, help="Adam's starting learning rate."
)
@click.option(
    "--sequence-patience",
    type=int,
    default=4,
    show_default=True,
    help="Stop after this many epochs without a better validation AUC.",
)
@click.option("--threads", type=int, default=2, show_default=True, help="TensorFlow intra-op threads.")
@click.option(
    "--from-checkpoint",
    is_flag=True,
    help="Skip fitting: export the best checkpoint in --cache left by an earlier, interrupted run.",
)
@click_errors()
def cli(
    data: Path,
    out: Path,
    seed: int,
    target: str,
    cache: Path,
    expression_epochs: int,
    sequence_epochs: int,
    sequence_lr: float,
    sequence_patience: int,
    threads: int,
    from_checkpoint: bool,
) -> None:
    """Train the temporal test's expression and/or sequence network, export ONNX and write metrics."""
    training.tensorflow(threads)
    out.mkdir(parents=True, exist_ok=True)
    if target in ("expression", "all"):
        training.seed_everything(seed)
        metrics = train_expression(data, out, cache, seed, expression_epochs, from_checkpoint)
        (out / "expression_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        click.echo(json.dumps(metrics, indent=2))
    if target in ("sequence", "all"):
        training.seed_everything(seed)
        metrics = train_sequence(
            data, out, cache, seed, sequence_epochs, from_checkpoint, sequence_lr, sequence_patience
        )
        (out / "sequence_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        click.echo(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    cli()
