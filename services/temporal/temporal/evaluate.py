"""Measure the landmark cues on the cached tracks: blink precision/recall and the planar-motion cap.

Blinks (method): the data sets carry no blink labels, so blinks are made synthetically on real landmark
tracks. Every live track (NUAA live runs, replay-dev live videos) is cut into 16-frame windows, read at
10 fps. Each window is used twice: as it is (a negative: any detection counts as a false positive, so real
blinks the person made are counted against us, an upper bound on false positives), and with one synthetic
blink (eyelid points moved toward the eye axis over 3 frames with closures 0.5, 1.0, 0.6 x a random depth
0.7-1.0) at a random frame 2-12 (a positive: found when a detection lies within one frame of the shut frame).
Print-attack tracks (NUAA spoof runs) give the false-blink rate on prints.

Motion: the planar-motion cap of `TemporalModel` is applied to the same 16-frame windows of NUAA live and
print tracks and of replay-dev, and the share of windows capped is reported per kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from temporal.blink import BLINK_PROFILE, BlinkSettings, detect_blinks, ear_track, inject_blink
from temporal.model import TemporalSettings
from temporal.motion import summarise
from temporal.sequence_data import TrackCache, load_cache

WINDOW = 16
FPS = 10.0


def _windows(cache: TrackCache, live: bool, sources: tuple[str, ...]) -> list[list[np.ndarray]]:
    out = []
    for t in cache.tracks:
        if bool(t.label) != live or not t.source.startswith(sources):
            continue
        rows = [
            r for r in range(t.start, t.stop) if cache.has_face[r] and np.isfinite(cache.landmarks[r]).all()
        ]
        for i in range(0, len(rows) - WINDOW + 1, WINDOW):
            out.append([cache.landmarks[r] for r in rows[i : i + WINDOW]])
    return out


def blink_scores(cache: TrackCache, settings: BlinkSettings, seed: int) -> dict[str, Any]:
    """Precision and recall of detect_blinks on live windows with and without a synthetic blink."""
    rng = np.random.default_rng(seed)
    ts = [round(i * 1000 / FPS) for i in range(WINDOW)]
    live = _windows(cache, True, ("nuaa", "replay-dev"))
    tp = fp = fn = 0
    fp_clean = 0
    for track in live:
        fp_clean += len(detect_blinks(ear_track(track), ts, settings))
        at = int(rng.integers(2, 13))
        depth = float(rng.uniform(0.7, 1.0))
        blinked = inject_blink(track, at, [c * depth for c in BLINK_PROFILE])
        found = detect_blinks(ear_track(blinked), ts, settings)
        hits = [b for b in found if abs(b.deepest - (at + 1)) <= 1]
        tp += min(len(hits), 1)
        fn += 1 - min(len(hits), 1)
        fp += len(found) - min(len(hits), 1)
    prints = _windows(cache, False, ("nuaa",))
    print_blinks = sum(len(detect_blinks(ear_track(w), ts, settings)) for w in prints)
    fp_total = fp + fp_clean
    return {
        "settings": {
            "close_ratio": settings.close_ratio,
            "open_ratio": settings.open_ratio,
            "max_closed_ms": settings.max_closed_ms,
        },
        "live_windows": len(live),
        "precision": tp / (tp + fp_total) if tp + fp_total else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "false_blinks_in_unmodified_live_windows": fp_clean,
        "print_windows": len(prints),
        "false_blinks_in_print_windows": print_blinks,
    }


def motion_scores(cache: TrackCache, settings: TemporalSettings) -> dict[str, Any]:
    """Share of 16-frame windows the planar-motion rule would cap, per kind of track."""
    out: dict[str, Any] = {}
    ts = [round(i * 1000 / FPS) for i in range(WINDOW)]
    for name, live, sources in (
        ("nuaa_live", True, ("nuaa",)),
        ("nuaa_print", False, ("nuaa",)),
        ("replay_live", True, ("replay-dev",)),
        ("replay_spoof", False, ("replay-dev",)),
    ):
        windows = _windows(cache, live, sources)
        capped = 0
        nonrigid = []
        for w in windows:
            m = summarise(w)
            nonrigid.append(m.nonrigidity)
            if (
                m.displacement >= settings.planar_motion_min
                and m.nonrigidity < settings.planar_nonrigidity_max
                and not detect_blinks(ear_track(w), ts)
            ):
                capped += 1
        out[name] = {
            "windows": len(windows),
            "capped_share": capped / len(windows) if windows else None,
            "nonrigidity_median": float(np.median(nonrigid)) if nonrigid else None,
        }
    return out


@click.command()
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".cache/temporal"),
    show_default=True,
    help="Holds the sequence-track cache written by `temporal.train`.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("services/temporal/models/cues_metrics.json"),
    show_default=True,
)
@click.option("--seed", type=int, default=7, show_default=True)
def cli(cache: Path, out: Path, seed: int) -> None:
    """Blink precision/recall (synthetic blinks on real tracks) and planar-motion capping rates."""
    tracks = load_cache(cache)
    sweep = [blink_scores(tracks, BlinkSettings(close_ratio=c), seed) for c in (0.55, 0.6, 0.65, 0.7, 0.75)]
    metrics = {
        "method": __doc__,
        "blink_default": blink_scores(tracks, BlinkSettings(), seed),
        "blink_close_ratio_sweep": sweep,
        "planar_motion": motion_scores(tracks, TemporalSettings()),
    }
    out.write_text(json.dumps(metrics, indent=2) + "\n")
    click.echo(json.dumps({k: v for k, v in metrics.items() if k != "method"}, indent=2))


if __name__ == "__main__":
    cli()
