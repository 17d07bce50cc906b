"""cnn2d speed, single thread: load time, and per-image latency including HOG face detection.

Per image it times what the service does for a directly called single image: decode the JPEG bytes, detect
the face (liveness.vision.face.observe), cut the three scales and run the ONNX network (Cnn2dModel.check).
It prints the medians and the ratio against seed 001's 2D test (1.04 s per image, 7.44 s load, as its
thesis reports them; that ResNet50 code is not in this repository, so those are quoted, not re-run).

    .venv/bin/python benchmarks/bench_cnn2d.py [--data ../shared/data/nuaa] [--images 50]

Without the data set it uses scikit-image's astronaut, resized to 640x480. Timings are wall-clock and
process CPU time; on a shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from cnn2d.model import Cnn2dModel, Cnn2dSettings  # noqa: E402
from liveness.types import CheckOptions, Media  # noqa: E402
from liveness.vision import face  # noqa: E402
from liveness.vision.decode import decode_image, encode_jpeg  # noqa: E402

SEED_001_S_PER_IMAGE = 1.04
SEED_001_LOAD_S = 7.44
TARGET_MS = 40.0
TARGET_LOAD_S = 3.0


def _images(data: Path | None, count: int) -> list[bytes]:
    if data is not None and data.is_dir():
        paths = sorted(data.glob("*/*/*.jpg"))
        step = max(1, len(paths) // count)
        return [p.read_bytes() for p in paths[::step][:count]]
    import skimage.data

    astronaut = cv2.resize(skimage.data.astronaut(), (640, 480), interpolation=cv2.INTER_AREA)
    return [encode_jpeg(astronaut)] * count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/nuaa")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--model", type=Path, default=Cnn2dSettings().model_path)
    args = parser.parse_args()

    face.load()  # the service loads dlib at start-up too, before it reports SERVING; timed separately
    t0, c0 = time.perf_counter(), time.process_time()
    model = Cnn2dModel(Cnn2dSettings(model_path=args.model, threads=1))
    model.warmup()
    load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - c0

    images = _images(args.data, args.images)
    wall_ms, cpu_ms, detect_ms, statuses = [], [], [], []
    for data in [images[0], *images]:  # the first call is a warm-up and is dropped below
        t, c = time.perf_counter(), time.process_time()
        image = decode_image(data)
        media = Media(frames=(image,), timestamps_ms=(0,), is_clip=False)
        obs = face.observe(image)
        d = time.perf_counter()
        result = model.check(media, [obs], CheckOptions())
        wall_ms.append((time.perf_counter() - t) * 1000.0)
        cpu_ms.append((time.process_time() - c) * 1000.0)
        detect_ms.append((d - t) * 1000.0)
        statuses.append(result.status.name)
    wall_ms, cpu_ms, detect_ms, statuses = wall_ms[1:], cpu_ms[1:], detect_ms[1:], statuses[1:]
    median = statistics.median(wall_ms)
    print(f"model: {args.model.name}, {args.model.stat().st_size / 1e6:.2f} MB")
    print(
        f"load (ONNX session + warm-up): {load_s:.3f} s wall, {load_cpu_s:.3f} s CPU "
        f"(target <= {TARGET_LOAD_S} s)"
    )
    print(f"images: {len(wall_ms)}, statuses: { {s: statuses.count(s) for s in sorted(set(statuses))} }")
    print(
        f"per image (decode + detect + crops + ONNX): median {median:.1f} ms wall, "
        f"p90 {sorted(wall_ms)[int(0.9 * (len(wall_ms) - 1))]:.1f} ms, "
        f"median CPU {statistics.median(cpu_ms):.1f} ms (target <= {TARGET_MS} ms)"
    )
    print(f"  of which decode + detection: median {statistics.median(detect_ms):.1f} ms")
    print(
        f"vs seed 001 2D test ({SEED_001_S_PER_IMAGE} s/image, {SEED_001_LOAD_S} s load): "
        f"{SEED_001_S_PER_IMAGE * 1000.0 / median:.0f}x faster per image, "
        f"{SEED_001_LOAD_S / load_s:.0f}x faster load"
    )


if __name__ == "__main__":
    main()
