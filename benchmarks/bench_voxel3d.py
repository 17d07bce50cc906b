"""voxel3d speed per clip: Voxel3dModel.check with the landmarks supplied (budget: 150 ms per clip).

The gateway sends a box and 68 landmarks per frame, so `check` does no image work at all: factorisation of
the landmark tracks, the analytic features, voxelisation of the recovered surface and one Conv3D inference
(VoxNet class, 32^3 input). Face detection is excluded, as in every test's benchmark. The clip is a synthetic
turning face (voxel3d.synth) with 8, 16 and 32 frames; the runtime keeps at most 32.

    .venv/bin/python benchmarks/bench_voxel3d.py [--repeats 50] [--threads 1]

Both scorers run side by side (Conv3D and the planarity logistic), with the ratio of their timings.

For comparison, seed 001's 3D test (VRN single-image reconstruction + VoxNet) reported 5.39 s per image on
an i7-7700K; that figure is quoted from the thesis, not re-run here (its weights are not available offline).
Timings are wall-clock and process CPU time (the steadier figure on a shared machine).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

from liveness.types import Box, CheckOptions, Face, FaceObservation, Media  # noqa: E402
from voxel3d import synth  # noqa: E402
from voxel3d.features import clip_inputs  # noqa: E402
from voxel3d.model import GeometryArtifact, Voxel3dModel, Voxel3dSettings  # noqa: E402

BUDGET_MS = 150.0
SEED_VRN_MS = 5390.0


def _clip(reference: np.ndarray, n_frames: int) -> tuple[Media, list[FaceObservation]]:
    track = synth.synth_track(
        "live", reference, n_frames, np.random.default_rng(n_frames), amplitude_deg=20.0
    )
    blank = np.zeros((480, 640, 3), np.uint8)
    media = Media(
        frames=(blank,) * n_frames, timestamps_ms=tuple(66 * i for i in range(n_frames)), is_clip=True
    )
    faces = []
    for i, p in enumerate(track):
        lo, hi = p.min(axis=0), p.max(axis=0)
        box = Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        faces.append(FaceObservation(i, 1, Face(box, p.astype(np.float32))))
    return media, faces


def _time(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return wall, cpu


def _row(name: str, wall: list[float], cpu: list[float]) -> str:
    p95 = sorted(wall)[max(0, int(round(0.95 * len(wall))) - 1)]
    return (
        f"{name:<34} wall p50 {statistics.median(wall):7.2f} ms  p95 {p95:7.2f} ms  "
        f"cpu p50 {statistics.median(cpu):7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()

    # Both scorers side by side in one process: the planarity logistic (geometry only) is the baseline the
    # Conv3D path is compared with, under the same machine load.
    models = {s: Voxel3dModel(Voxel3dSettings(threads=args.threads, scorer=s)) for s in ("planarity", "cnn")}
    for m in models.values():
        m.warmup()
    geometry = GeometryArtifact.load(Voxel3dSettings().geometry_path)
    reference = geometry.mesh.reference
    print(
        f"voxel3d {models['cnn'].info.version}, default scorer {Voxel3dSettings().scorer}, "
        f"onnxruntime threads {args.threads}, {args.repeats} repeats, load average {os.getloadavg()[0]:.1f}"
    )
    worst_p50 = 0.0
    for n_frames in (8, 16, 32):
        media, faces = _clip(reference, n_frames)
        points = np.stack(
            [f.face.landmarks for f in faces if f.face is not None and f.face.landmarks is not None]
        )
        p50 = {}
        for scorer, model in models.items():
            wall, cpu = _time(partial(model.check, media, faces, CheckOptions()), args.repeats)
            p50[scorer] = statistics.median(wall), statistics.median(cpu)
            worst_p50 = max(worst_p50, p50[scorer][0])
            print(_row(f"check {scorer}, {n_frames} frames", wall, cpu))
        print(
            _row(
                "  geometry + voxels only",
                *_time(partial(clip_inputs, points, geometry.mesh), args.repeats),
            )
        )
        print(
            f"  cnn / planarity: wall p50 x{p50['cnn'][0] / p50['planarity'][0]:.2f}, "
            f"cpu p50 x{p50['cnn'][1] / p50['planarity'][1]:.2f}"
        )
    inputs = clip_inputs(points, geometry.mesh)
    print(
        _row(
            "  Conv3D (ONNX) only, 32 frames",
            *_time(partial(models["cnn"]._run, inputs.voxels[None], inputs.features[None]), args.repeats),
        )
    )
    verdict = "within" if worst_p50 <= BUDGET_MS else "OVER"
    print(f"worst p50 {worst_p50:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    print(
        f"seed 001 VRN+VoxNet (quoted, not re-run): {SEED_VRN_MS:.0f} ms, "
        f"{SEED_VRN_MS / worst_p50:.0f}x the worst p50 here"
    )


if __name__ == "__main__":
    main()
