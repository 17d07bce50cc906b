"""temporal speed for a 16-frame 640x480 clip: TemporalModel.check, plus JPEG decoding of the 16 frames.

Face detection is excluded: the gateway detects once and sends a box and 68 landmarks per frame, so the
observations are computed here before timing. What `check` includes: landmark-based blink and motion
analysis, the LSTM-CNN on 8 face crops, the expression network on every face frame (when the challenge
asks for SMILE or SURPRISE), and face_recognition embeddings of `identity_frames` frames (plus detection
and one embedding of the reference image when one is sent).

    .venv/bin/python benchmarks/bench_temporal.py [--video ../shared/data/replay-dev/krzysiek/live/real.mp4]
        [--baseline-model OLD_SEQUENCE.onnx]

With --baseline-model, `check` (identity off, so the sequence network dominates) is also timed with that
sequence ONNX, the two runs alternating call by call so load changes hit both alike; the ratio is printed.

Without --video the clip is scikit-image's astronaut on a 640x480 canvas, moving a few pixels per frame
(a picture moved as one plane, so the planar-motion cap fires). A video is letterboxed into 640x480.
Timings are wall-clock and process CPU time (the steadier figure on a shared machine), one ONNX thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from liveness.data.video import read_frames  # noqa: E402
from liveness.types import Action, CheckOptions, Media  # noqa: E402
from liveness.vision import face as facelib  # noqa: E402
from liveness.vision.decode import decode_frames, encode_jpeg  # noqa: E402
from temporal.model import TemporalModel, TemporalSettings  # noqa: E402

N_FRAMES = 16
SIZE = (640, 480)


def _astronaut_clip() -> list[np.ndarray]:
    face = cv2.resize(skimage.data.astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(N_FRAMES):
        canvas = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
        dx, dy = 100 + 2 * i, 40 + (i % 3)
        canvas[dy : dy + 400, dx : dx + 400] = face
        frames.append(canvas)
    return frames


def _video_clip(path: Path) -> list[np.ndarray]:
    """16 frames of the video, scaled to fit 640x480 with their aspect ratio kept, on a grey canvas."""
    out = []
    for frame, _ in read_frames(path, count=N_FRAMES):
        h, w = frame.shape[:2]
        k = min(SIZE[0] / w, SIZE[1] / h)
        small = cv2.resize(frame, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
        canvas = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
        top, left = (SIZE[1] - small.shape[0]) // 2, (SIZE[0] - small.shape[1]) // 2
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
        out.append(canvas)
    return out


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(median wall ms, p90 wall ms, median CPU ms) over `repeats` calls after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    wall.sort()
    return statistics.median(wall), wall[int(0.9 * (len(wall) - 1))], statistics.median(cpu)


def _time_pair(
    fn: Callable[[], object], baseline: Callable[[], object], repeats: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """((median wall ms, median CPU ms) of fn, the same of baseline): calls alternate after a warm-up."""
    fn()
    baseline()
    samples: dict[int, tuple[list[float], list[float]]] = {0: ([], []), 1: ([], [])}
    for _ in range(repeats):
        for key, call in ((0, fn), (1, baseline)):
            w0, c0 = time.perf_counter(), time.process_time()
            call()
            samples[key][0].append((time.perf_counter() - w0) * 1000)
            samples[key][1].append((time.process_time() - c0) * 1000)
    med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in samples.items()}
    return med[0], med[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="take the 16 frames from this video (resized to 640x480)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--baseline-model", type=Path, help="a sequence ONNX to time side by side with the shipped one"
    )
    args = parser.parse_args()

    frames = _video_clip(args.video) if args.video else _astronaut_clip()
    timestamps = tuple(round(i * 1000 / 15) for i in range(N_FRAMES))
    media = Media(tuple(frames), timestamps, is_clip=True)
    faces = facelib.observe_media(media)  # the gateway's work, not timed
    found = sum(o.face is not None for o in faces)
    print(f"clip: {N_FRAMES} frames {SIZE[0]}x{SIZE[1]} from {args.video or 'astronaut'}; faces in {found}")
    jpegs = [(encode_jpeg(f), t) for f, t in zip(frames, timestamps, strict=True)]

    results = []
    decode = _time(lambda: decode_frames(jpegs), args.repeats)
    results.append(("decode 16 JPEG frames", decode))
    for label, settings, options in (
        ("check, identity on 2 frames", TemporalSettings(), CheckOptions()),
        ("check, identity off", TemporalSettings(identity_frames=0), CheckOptions()),
        (
            "check + challenge SMILE,BLINK,TURN_LEFT",
            TemporalSettings(),
            CheckOptions(challenge=(Action.SMILE, Action.BLINK, Action.TURN_LEFT)),
        ),
        ("check + reference image", TemporalSettings(), CheckOptions(reference=frames[0])),
    ):
        model = TemporalModel(settings)
        model.warmup()
        result = model.check(media, faces, options)
        print(f"  {label}: score={result.score:.3f} status={result.status.value} detail={result.detail!r}")
        results.append((label, _time(lambda m=model, o=options: m.check(media, faces, o), args.repeats)))

    print(f"\n{'step':42s} {'wall median ms':>15s} {'wall p90 ms':>12s} {'cpu median ms':>14s}")
    for label, (med, p90, cpu) in results:
        print(f"{label:42s} {med:15.1f} {p90:12.1f} {cpu:14.1f}")
    total = decode[0] + results[1][1][0]
    print(f"\ndecode + check (identity on 2 frames, no challenge): {total:.1f} ms wall (target <= 300 ms)")
    if args.baseline_model:
        shipped = TemporalModel(TemporalSettings(identity_frames=0))
        baseline = TemporalModel(TemporalSettings(identity_frames=0, model_path=args.baseline_model))
        for m in (shipped, baseline):
            m.warmup()
        options = CheckOptions()
        (wall, cpu), (base_wall, base_cpu) = _time_pair(
            lambda: shipped.check(media, faces, options),
            lambda: baseline.check(media, faces, options),
            args.repeats,
        )
        print(f"\ncheck, identity off: shipped {shipped.info.version} vs baseline {args.baseline_model.name}")
        print(f"  shipped  {wall:8.1f} ms wall {cpu:8.1f} ms CPU")
        print(f"  baseline {base_wall:8.1f} ms wall {base_cpu:8.1f} ms CPU")
        print(f"  ratio shipped / baseline: {wall / base_wall:.2f} wall, {cpu / base_cpu:.2f} CPU")


if __name__ == "__main__":
    main()
