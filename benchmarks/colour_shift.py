"""How the image tests' decisions move when the light or the camera changes the colours: a stress check.

A seeded sample of NUAA images (half live, half print) is scored by the shipped cnn2d, texture and iqa
models (the face tests on the faces HOG finds, iqa on the whole image), as they are and after global
photometric changes of the kind a new camera, white balance or room brings (darker, gamma, warm and cool
white balance, blur, JPEG). For each change it prints each test's AUC (does the ranking survive?) and its
live and print acceptance at the threshold 0.5 (does the decision survive?), and the gateway's fused
decision from those scores (the packaged config, or --config: its fusion rule, weights and live threshold,
over the tests it weighs). The models saw these images in training, so the unshifted row is optimistic; the
point is how far each change moves it. Not an accuracy figure: the changes are synthetic.

    .venv/bin/python benchmarks/colour_shift.py --data ../shared/data/nuaa [--per-class 150] [--config FILE]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from cnn2d.model import Cnn2dModel, Cnn2dSettings
from gateway import config as gateway_config
from gateway.fusion import Vote, fuse
from iqa.model import IqaModel, IqaSettings
from liveness import iso30107
from liveness.data.samples import load_image, nuaa
from liveness.types import CheckOptions, Decision, Face, FaceObservation, Media, RGBImage, Status
from liveness.vision.face import detect_boxes
from texture.model import TextureModel, TextureSettings


def _gain(r: float, g: float, b: float) -> Callable[[RGBImage], RGBImage]:
    return lambda x: np.clip(x * np.array([r, g, b]), 0, 255).astype(np.uint8)


def _gamma(value: float) -> Callable[[RGBImage], RGBImage]:
    return lambda x: np.clip(255.0 * (x / 255.0) ** value, 0, 255).astype(np.uint8)


def _jpeg(quality: int) -> Callable[[RGBImage], RGBImage]:
    def run(x: RGBImage) -> RGBImage:
        ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), np.uint8)

    return run


CHANGES: dict[str, Callable[[RGBImage], RGBImage]] = {
    "none": lambda x: x,
    "half brightness": _gain(0.5, 0.5, 0.5),
    "gamma 0.6 (brighter)": _gamma(0.6),
    "gamma 1.6 (darker)": _gamma(1.6),
    "warm: red x1.25 blue x0.75": _gain(1.25, 1.0, 0.75),
    "cool: red x0.8 blue x1.25": _gain(0.8, 1.0, 1.25),
    "blur sigma 1.5": lambda x: np.asarray(cv2.GaussianBlur(x, (0, 0), 1.5), np.uint8),
    "JPEG quality 30": _jpeg(30),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="NUAA folder (../shared/data/nuaa)")
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--config", type=Path, default=None, help="gateway config (default: the packaged one)"
    )
    args = parser.parse_args()
    config = gateway_config.load(args.config or gateway_config.DEFAULT_CONFIG, env={})
    weights = {t.name: t.weight for t in config.tests if t.weight > 0}
    rng = random.Random(args.seed)
    samples = list(nuaa(args.data))
    picked = [
        *rng.sample([s for s in samples if s.is_live], args.per_class),
        *rng.sample([s for s in samples if not s.is_live], args.per_class),
    ]
    faces = []
    for s in picked:
        image = load_image(s.path)
        boxes = detect_boxes(image)
        if boxes:
            faces.append((image, boxes[0], s.is_live))
    models = {
        "cnn2d": Cnn2dModel(Cnn2dSettings()),
        "texture": TextureModel(TextureSettings()),
        "iqa": IqaModel(IqaSettings()),
    }
    if not set(weights) <= set(models):
        parser.error(f"the config fuses {sorted(weights)}; this check scores only {sorted(models)}")
    fusion = config.calibration.method if config.calibration else "weighted mean"
    print(f"fused: {fusion} over {sorted(weights)}, LIVE at >= {config.thresholds.live} ({config.version})")
    live = np.array([lv for _, _, lv in faces])
    print(f"{len(faces)} faces ({int(live.sum())} live, {int((~live).sum())} print); threshold 0.5")
    for name, change in CHANGES.items():
        cells = []
        tests: dict[str, np.ndarray] = {}
        for test, model in models.items():
            scores = []
            for image, box, _ in faces:
                media = Media((np.ascontiguousarray(change(image)),), (0,), False)
                obs = [FaceObservation(0, 1, Face(box))]
                scores.append(model.check(media, obs, CheckOptions()).score)
            v = tests[test] = np.array(scores)
            cells.append(
                f"{test} AUC {iso30107.auc(v, live):.3f} live accepted {np.mean(v[live] >= 0.5):4.0%} "
                f"prints accepted {np.mean(v[~live] >= 0.5):4.0%}"
            )
        fused = [
            fuse(
                [Vote(n, w, Status.OK, float(tests[n][i])) for n, w in weights.items()],
                config.thresholds,
                config.calibration,
            )
            for i in range(len(faces))
        ]
        p = np.array([f.score for f in fused])
        ok = np.array([f.decision is Decision.LIVE for f in fused])
        cells.append(
            f"fused AUC {iso30107.auc(p, live):.3f} live accepted {np.mean(ok[live]):4.0%} "
            f"prints accepted {np.mean(ok[~live]):4.0%}"
        )
        print(f"{name:28s} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
