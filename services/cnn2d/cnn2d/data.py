"""Face crops of the training and validation sets, detected once and cached as npz.

HOG detection is the slow part (tens of ms per frame), so every image is detected once and two things are
kept per face:

- `inputs`: the exact serving input (`model.preprocess` on the full frame), for evaluation;
- `context`: a square crop at CONTEXT_SCALE around the box, from which training re-crops the scales with a
  jittered box through the same `liveness.vision.face.crops` (the out-of-frame black border is kept).

replay-dev/krzysiek: its spoof files are face crops cut by the author's SSD detector, while its live file is a
full 1920x1080 video. Run as they are, the wider scales would see black borders on every spoof and real
background on every live frame, so "crop vs full frame" would pass for liveness. HOG also misses the face in
most of those blurry, tilted, face-filling crops. So both sides are framed alike: the median framing of the
SSD crops around the HOG box is measured on the crops where HOG does find the face; each live frame is cut
around its HOG box to that framing; then in every cut (live) and crop (spoof) the face box is placed by the
same framing (`framed_box`) and both go through the same crop code, black beyond the cut on both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from cnn2d.model import CROP_SIZE, PAD, SCALES, preprocess
from liveness.data.samples import Sample, load_image, nuaa, read_manifest
from liveness.data.video import iter_frames
from liveness.types import Box, RGBImage
from liveness.vision.face import crop, detect_boxes, square_box, upright_face

log = logging.getLogger(__name__)

CONTEXT_SCALE = 2.0
CONTEXT_SIZE = 160
"""Context crops cover 2x the box at 160 px: the box is 80 px there, so every scale is re-cropped by
downsampling."""
CACHE_VERSION = 1
VIDEO_EVERY = {"tranvanluyt": 3, "krzysiek": 1}
"""Keep every n-th video frame (neighbouring frames are near-duplicates; krzysiek has only 140)."""


@dataclass(frozen=True, slots=True)
class Crops:
    """Cached faces of one data set; row i of every array belongs to face i."""

    inputs: npt.NDArray[np.uint8]  # (N, n_scales, size, size, 3) exact serving crops
    context: npt.NDArray[np.uint8]  # (N, CONTEXT_SIZE, CONTEXT_SIZE, 3)
    boxes: npt.NDArray[np.float32]  # (N, 4) face box in context pixels (left, top, right, bottom)
    live: npt.NDArray[np.bool_]  # (N,)
    group: npt.NDArray[np.str_]  # (N,) subject (nuaa) or source (replay-dev)
    clip: npt.NDArray[np.str_]  # (N,) which file/clip the face comes from
    faces: npt.NDArray[np.int16]  # (N,) how many faces HOG found in the frame

    def __len__(self) -> int:
        return len(self.live)

    def take(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Crops:
        """The faces selected by a boolean mask or an index array."""
        return Crops(*(getattr(self, f)[mask] for f in self.__slots__))  # type: ignore[attr-defined]

    @classmethod
    def concat(cls, *parts: Crops) -> Crops:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__slots__))  # type: ignore[attr-defined]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, version=CACHE_VERSION, **{f: getattr(self, f) for f in self.__slots__})  # type: ignore[attr-defined]

    @classmethod
    def load(cls, path: Path) -> Crops:
        with np.load(path) as z:
            if int(z["version"]) != CACHE_VERSION:
                raise ValueError(f"{path}: cache version {int(z['version'])}, expected {CACHE_VERSION}")
            return cls(**{f: z[f] for f in cls.__slots__})  # type: ignore[attr-defined]


def context_box(box: Box) -> Box:
    """Where `box` lies inside its own context crop (square around the box at CONTEXT_SCALE)."""
    sq = square_box(box, CONTEXT_SCALE)
    k = CONTEXT_SIZE / sq.width
    return Box(
        (box.left - sq.left) * k, (box.top - sq.top) * k, (box.right - sq.left) * k, (box.bottom - sq.top) * k
    )


@dataclass(slots=True)
class _Builder:
    inputs: list[npt.NDArray[np.uint8]]
    context: list[RGBImage]
    boxes: list[tuple[float, float, float, float]]
    live: list[bool]
    group: list[str]
    clip: list[str]
    faces: list[int]
    missed: int = 0

    def add(self, image: RGBImage, live: bool, group: str, clip: str, box: Box | None = None) -> None:
        """Detect the face (unless `box` is given) and keep its crops."""
        boxes = [box] if box is not None else detect_boxes(image)
        if not boxes:
            self.missed += 1
            return
        box = boxes[0]
        self.inputs.append(preprocess(image, box, SCALES, CROP_SIZE).astype(np.uint8))
        self.context.append(crop(image, box, CONTEXT_SCALE, CONTEXT_SIZE, PAD))
        cb = context_box(box)
        self.boxes.append((cb.left, cb.top, cb.right, cb.bottom))
        self.live.append(live)
        self.group.append(group)
        self.clip.append(clip)
        self.faces.append(len(boxes))

    def build(self) -> Crops:
        size = (0, len(SCALES), CROP_SIZE, CROP_SIZE, 3)
        return Crops(
            inputs=np.stack(self.inputs) if self.inputs else np.zeros(size, np.uint8),
            context=np.stack(self.context)
            if self.context
            else np.zeros((0, CONTEXT_SIZE, CONTEXT_SIZE, 3), np.uint8),
            boxes=np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4),
            live=np.asarray(self.live, dtype=bool),
            group=np.asarray(self.group, dtype=str),
            clip=np.asarray(self.clip, dtype=str),
            faces=np.asarray(self.faces, dtype=np.int16),
        )


def _new_builder() -> _Builder:
    return _Builder([], [], [], [], [], [], [])


def nuaa_crops(root: Path) -> Crops:
    """Detect and crop every NUAA image (group = subject, clip = file)."""
    builder = _new_builder()
    samples = list(nuaa(root))
    for s in tqdm(samples, desc="nuaa faces", unit="img"):
        builder.add(load_image(s.path), s.is_live, s.subject, s.path.name)
    log.info("nuaa: %d faces, %d images without a face", len(builder.live), builder.missed)
    return builder.build()


def _source(sample: Sample) -> str:
    return sample.path.relative_to(sample.path.parents[2]).parts[0]


def _pad(image: RGBImage, frac: float) -> tuple[RGBImage, int]:
    pad = round(frac * max(image.shape[:2]))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cast(RGBImage, padded), pad


def krzysiek_cut_geometry(spoof_paths: list[Path]) -> tuple[tuple[float, float, float, float], int]:
    """Median framing of the SSD crops relative to the HOG box, and on how many crops HOG found a face.

    Returned as (crop width/box side, crop height/box side, box-centre x/crop width, box-centre y/crop
    height). HOG needs a margin around a face, so each crop is padded with black first; it still misses most
    of these blurry, tilted crops, and the median comes from those where it does find the face.
    """
    rows = []
    for path in spoof_paths:
        image = load_image(path)
        for frac in (0.3, 0.6):
            padded, pad = _pad(image, frac)
            boxes = detect_boxes(padded)
            if boxes:
                b = boxes[0]
                h, w = image.shape[:2]
                side = max(b.width, b.height)
                rows.append((w / side, h / side, (b.center[0] - pad) / w, (b.center[1] - pad) / h))
                break
    if not rows:
        raise ValueError("HOG found no face in any krzysiek spoof crop")
    med = np.median(np.asarray(rows), axis=0)
    return (float(med[0]), float(med[1]), float(med[2]), float(med[3])), len(rows)


def cut_like(image: RGBImage, box: Box, geometry: tuple[float, float, float, float]) -> RGBImage:
    """Cut `image` around `box` with the framing of `krzysiek_cut_geometry`, clipped to the frame."""
    rw, rh, cx, cy = geometry
    side = max(box.width, box.height)
    w, h = rw * side, rh * side
    left = box.center[0] - cx * w
    top = box.center[1] - cy * h
    H, W = image.shape[:2]
    x0, y0 = max(0, round(left)), max(0, round(top))
    x1, y1 = min(W, round(left + w)), min(H, round(top + h))
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def framed_box(image: RGBImage, geometry: tuple[float, float, float, float]) -> Box:
    """The face box inside a crop framed like `krzysiek_cut_geometry` (the inverse of `cut_like`)."""
    rw, rh, cx, cy = geometry
    h, w = image.shape[:2]
    side = (w / rw + h / rh) / 2.0
    x, y = cx * w, cy * h
    return Box(x - side / 2.0, y - side / 2.0, x + side / 2.0, y + side / 2.0)


def _video_frames(path: Path, every: int) -> Iterator[RGBImage]:
    for index, frame, _ in iter_frames(path):
        if index % every == 0:
            yield frame


def replay_crops(root: Path) -> Crops:
    """replay-dev faces; clip = source/label (one decision per clip); see the module doc for krzysiek."""
    samples = list(read_manifest(root / "manifest.csv", dataset="replay-dev"))
    builder = _new_builder()
    spoof_paths = [s.path for s in samples if _source(s) == "krzysiek" and not s.is_live]
    geometry, found = krzysiek_cut_geometry(spoof_paths)
    log.info(
        "krzysiek: HOG found the face in %d of %d spoof crops; framing %s", found, len(spoof_paths), geometry
    )
    for s in tqdm(samples, desc="replay-dev faces", unit="file"):
        source = _source(s)
        clip = f"{source}/{s.label}"
        if source == "krzysiek" and s.kind == "image":
            image = load_image(s.path)
            builder.add(image, s.is_live, source, clip, box=framed_box(image, geometry))
            continue
        if s.kind == "image":
            builder.add(load_image(s.path), s.is_live, source, clip)
            continue
        for frame in _video_frames(s.path, VIDEO_EVERY.get(source, 3)):
            if source == "krzysiek":
                boxes = detect_boxes(frame)
                if not boxes:
                    builder.missed += 1
                    continue
                cut = cut_like(frame, boxes[0], geometry)
                builder.add(cut, s.is_live, source, clip, box=framed_box(cut, geometry))
            else:
                builder.add(frame, s.is_live, source, clip)
    log.info("replay-dev: %d faces, %d frames without a face", len(builder.live), builder.missed)
    return builder.build()


def replay_more_crops(root: Path) -> Crops:
    """replay-more faces (group = source; clip = the image's path under the data root, as `liveness eval` and
    the fusion's score table name it), found as the gateway finds them for the tests
    (liveness.vision.face.upright_face: turned upright when the face lies on its side)."""
    samples = list(read_manifest(root / "manifest.csv", dataset="replay-more"))
    builder = _new_builder()
    for s in tqdm(samples, desc="replay-more faces", unit="img"):
        found = upright_face(load_image(s.path))
        if found is None:
            builder.missed += 1
            continue
        rel = s.path.relative_to(root).as_posix()
        builder.add(found[0], s.is_live, rel.split("/", 1)[0], f"replay-more/{rel}", found[1])
    log.info("replay-more: %d faces, %d images without a face", len(builder.live), builder.missed)
    return builder.build()


def cached(cache_dir: Path, name: str, data_root: Path) -> Crops:
    """Crops of `name` ("nuaa", "replay-dev" or "replay-more") under `data_root`, built once into
    `cache_dir`."""
    padding = "" if PAD == "black" else f"-{PAD}"
    path = cache_dir / f"{name}-v{CACHE_VERSION}-s{'_'.join(map(str, SCALES))}-{CROP_SIZE}{padding}.npz"
    if path.is_file():
        return Crops.load(path)
    folder = data_root / name
    builders = {"nuaa": nuaa_crops, "replay-dev": replay_crops, "replay-more": replay_more_crops}
    crops_ = builders[name](folder)
    crops_.save(path)
    return crops_
