"""The sequence run's per-epoch record: written as training goes, so an interrupted run keeps its history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def test_epoch_clock_writes_one_row_per_epoch_and_read_history_returns_them(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="the training history needs the train extra (tensorflow)")
    import keras

    from liveness import training
    from temporal import train

    training.seed_everything(0)
    rng = np.random.default_rng(0)
    x = rng.random((16, 4), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    path = tmp_path / "cache" / train.HISTORY_FILE
    path.parent.mkdir()
    path.write_text('{"epoch": 9, "val_auc": 1.0}\n')  # a previous run's record is replaced, not appended to
    model.fit(
        x, y, validation_data=(x, y), epochs=3, batch_size=8, callbacks=[train._epoch_clock(path)], verbose=0
    )
    rows = train.read_history(path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert {"loss", "auc", "val_loss", "val_auc", "wall_s", "cpu_s", "load_1min"} <= row.keys()
        assert 0.0 <= row["val_auc"] <= 1.0
        assert row["wall_s"] >= 0.0 and row["cpu_s"] >= 0.0
    assert train.read_history(tmp_path / "missing.jsonl") == []
