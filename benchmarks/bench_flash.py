"""Validate the flash-colour check (gateway.flash) on synthetic clips and print what it measures.

Each trial draws a fresh session flash sequence (6 colours, 250-400 ms each, as the gateway does), renders a
clip of the astronaut at 8 fps through gateway.flash_synth and a JPEG round trip (quality 85), and runs
check_flash with the face box found by the shared HOG detector. Conditions:
- live: the face re-lit by the shown colours (flash gain relative to ambient light varies);
- live + AWB: the same, then a grey-world auto white balance per frame (a camera that was not locked);
- replay, other sequence: a face recorded in another session, shown on a surface that reflects 5 % of the
  real flash;
- replay, no flash: a face recorded without any flash, same surface reflection;
- replay, no flash, bright surround: the same with everything around the face replaced by light grey, so
  the additive glare shifts the face's chroma more than its surroundings' (the check's weak case).
Prints the correlation's percentiles and the share of clips that pass at the gateway's default threshold,
then the check's own cost on a 16-frame full-HD clip (what the gateway adds to a session's Evaluate, face
detection aside).

    .venv/bin/python benchmarks/bench_flash.py --trials 100
"""

from __future__ import annotations

import secrets
import time

import click
import numpy as np
import skimage.data
import skimage.transform

from gateway.flash import FlashSchedule, check_flash
from gateway.flash_synth import Lighting, live_clip, replay_clip
from gateway.sessions import SessionSettings, random_flash
from liveness.types import Box, RGBImage
from liveness.vision.decode import decode_image, encode_jpeg
from liveness.vision.face import detect_boxes

FPS = 8.0


def grey_world(frames: list[RGBImage]) -> list[RGBImage]:
    """Per-frame auto white balance: scale each channel so that the frame's mean is grey."""
    out = []
    for f in frames:
        means = f.reshape(-1, 3).mean(axis=0)
        gains = means.mean() / np.maximum(means, 1e-6)
        out.append(np.clip(f * gains, 0, 255).astype(np.uint8))
    return out


def jpeg(frames: list[RGBImage]) -> list[RGBImage]:
    return [decode_image(encode_jpeg(f, 85)) for f in frames]


@click.command()
@click.option(
    "--trials",
    type=int,
    default=100,
    show_default=True,
    help="Clips per condition and gain (0: timing only).",
)
@click.option("--scale", type=float, default=0.5, show_default=True, help="Image scale (1: 512x512).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the rendering noise.")
def main(trials: int, scale: float, seed: int) -> None:
    image = skimage.data.astronaut()
    box = detect_boxes(image)[0].scaled(scale)
    if scale != 1.0:
        image = (skimage.transform.rescale(image, scale, channel_axis=2) * 255).astype(np.uint8)
    settings = SessionSettings()
    threshold = settings.flash_min_correlation
    draw = secrets.SystemRandom()
    rng = np.random.default_rng(seed)
    print(
        f"image {image.shape[1]}x{image.shape[0]}, face box {box.width:.0f} px, {FPS:g} fps, JPEG q85, "
        f"{trials} clips per row, pass threshold {threshold}"
    )
    print(f"{'condition':<36}{'gain':>6}{'p5':>8}{'p50':>8}{'p95':>8}{'pass':>8}{'ms/clip':>9}")

    bright = image.copy()
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    cx, cy = box.center
    outside = ((xx - cx) / (box.width * 0.6)) ** 2 + ((yy - cy) / (box.height * 0.6)) ** 2 > 1.0
    bright[outside] = 210

    def render(kind: str, shown: FlashSchedule, lighting: Lighting) -> tuple[list[RGBImage], list[int]]:
        if kind.startswith("live"):
            frames, times = live_clip(image, box, shown, lighting, FPS, rng)
            if kind == "live + AWB":
                frames = grey_world(frames)
            return frames, times
        other = FlashSchedule(random_flash(settings, draw)) if kind == "replay, other sequence" else None
        source = bright if kind.endswith("bright surround") else image
        return replay_clip(source, box, shown, other, lighting, FPS, rng)

    kinds = (
        "live",
        "live + AWB",
        "replay, other sequence",
        "replay, no flash",
        "replay, no flash, bright surround",
    )
    for kind in kinds if trials > 0 else ():
        for gain in (0.05, 0.1, 0.25):
            lighting = Lighting(gain=gain)
            values, spent = [], 0.0
            for _ in range(trials):
                shown = FlashSchedule(random_flash(settings, draw))
                frames, times = render(kind, shown, lighting)
                frames = jpeg(frames)
                start = time.perf_counter()
                out = check_flash(frames, times, box, shown, threshold)
                spent += time.perf_counter() - start
                values.append(out.correlation)
            v = np.array(values)
            p5, p50, p95 = np.percentile(v, [5, 50, 95])
            passed = float(np.mean(v >= threshold))
            print(
                f"{kind:<36}{gain:>6.2f}{p5:>8.2f}{p50:>8.2f}{p95:>8.2f}{passed:>8.1%}"
                f"{spent / trials * 1000:>9.2f}"
            )

    full_hd = skimage.transform.resize(image, (1080, 1920), preserve_range=True).astype(np.uint8)
    sx, sy = 1920 / image.shape[1], 1080 / image.shape[0]
    big_box = Box(box.left * sx, box.top * sy, box.right * sx, box.bottom * sy)
    shown = FlashSchedule(random_flash(settings, draw))
    frames, times = live_clip(full_hd, big_box, shown, Lighting(), 16 / (shown.duration_ms / 1000.0), rng)
    frames, times = frames[:16], times[:16]
    runs = []
    for _ in range(10):
        start = time.perf_counter()
        check_flash(frames, times, big_box, shown, threshold)
        runs.append((time.perf_counter() - start) * 1000.0)
    print(f"check_flash on {len(frames)} frames of 1920x1080: median {np.median(runs):.1f} ms over 10 runs")


if __name__ == "__main__":
    main()
