"""texture speed, single thread, beside cnn2d on the same faces: per-image latency of each test's check.

Each image is decoded and its face detected once (liveness.vision.face.observe, what the gateway sends);
then texture's check (crop, six colour planes, twelve LBP histograms, the linear model) and cnn2d's check
(three crops, the ONNX ensemble) run on it in alternation, so both see the same machine load, with a
service process's C heap policy (liveness.memory.service_policy). Prints the medians, the detection cost they
share and the ratio texture / cnn2d.

    .venv/bin/python benchmarks/bench_texture.py [--data ../shared/data/nuaa] [--images 50]

Without the data set it uses scikit-image's astronaut at 640x480.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
from bench_cnn2d import _images  # noqa: E402  (this folder is on the path when a script here runs)

from cnn2d.model import Cnn2dModel, Cnn2dSettings  # noqa: E402
from liveness import memory  # noqa: E402
from liveness.types import CheckOptions, Media  # noqa: E402
from liveness.vision import face  # noqa: E402
from liveness.vision.decode import decode_image  # noqa: E402
from texture.model import TextureModel, TextureSettings  # noqa: E402


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    c = time.process_time()
    fn()
    return (time.process_time() - c) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/nuaa")
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    memory.service_policy()  # as in the services: freed blocks reused
    face.load()
    t0 = time.perf_counter()
    texture = TextureModel(TextureSettings())
    texture.warmup()
    load_s = time.perf_counter() - t0
    cnn2d = Cnn2dModel(Cnn2dSettings(threads=1))
    cnn2d.warmup()
    tex_ms, cnn_ms, detect_ms = [], [], []
    for data in _images(args.data, args.images):
        image = decode_image(data)
        media = Media(frames=(image,), timestamps_ms=(0,), is_clip=False)
        obs = []
        detect_ms.append(_timed(lambda: obs.append(face.observe(image))))  # noqa: B023
        tex_ms.append(_timed(lambda: texture.check(media, obs, CheckOptions())))  # noqa: B023
        cnn_ms.append(_timed(lambda: cnn2d.check(media, obs, CheckOptions())))  # noqa: B023
    t, c, d = (statistics.median(v) for v in (tex_ms, cnn_ms, detect_ms))
    print(f"texture artifact {texture.artifact.version}, load + warm-up {load_s * 1000:.0f} ms")
    print(f"images: {len(tex_ms)}; CPU per image, median (p90):")
    print(f"  detection (shared):  {d:6.1f} ms")
    print(f"  texture check:       {t:6.1f} ms ({sorted(tex_ms)[int(0.9 * (len(tex_ms) - 1))]:.1f})")
    print(f"  cnn2d check:         {c:6.1f} ms ({sorted(cnn_ms)[int(0.9 * (len(cnn_ms) - 1))]:.1f})")
    print(f"  texture incl. detection {t + d:.1f} ms, cnn2d incl. detection {c + d:.1f} ms (target <= 40)")
    print(f"ratio texture / cnn2d (check only): {t / c:.2f}")


if __name__ == "__main__":
    main()
