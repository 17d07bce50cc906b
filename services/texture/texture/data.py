"""Face crops of the training sets, detected once and cached as npz, each tagged with its domain.

A domain is what a model must not be allowed to memorise: one NUAA session (day, light, placement), one
replay-dev person's recording, one replay-more source (its own camera, screen and room), as
`liveness.data.protocols.tagged_samples` tags it; the protocols there hold whole domains out.

Faces are found exactly as the gateway finds them for the tests (liveness.vision.face.observe_upright: the
detector's own padded search for tight crops, then the frame turned by 90 degrees either way), so the crops
a model is trained and validated on are the crops it is served, and every face the stack scores has a
held-out score for the fusion fit. Where that finds no face, the image padded with its own edge pixels is
searched again, for training faces only (`training_crop`). A face that is still not found is counted per
domain and left out (the train command prints the counts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from liveness.data.protocols import tagged_samples
from liveness.data.samples import load_image
from liveness.data.video import iter_frames
from liveness.types import RGBImage
from liveness.vision.face import upright_face
from texture.features import CROP_SIZE, face_crop

log = logging.getLogger(__name__)

CACHE_VERSION = 3
"""Bumped when the face finding changes what is cropped (2: liveness.vision.face's coarse-first search; 3: the
gateway's observe_upright instead of a padded retry of texture's own)."""
VIDEO_EVERY = 3
"""Keep every 3rd video frame (neighbours are near-duplicates)."""
RETRY_PADS = (0.25, 0.5)
"""Edge padding, as a fraction of the longer side, tried in turn by `training_crop`."""


@dataclass(frozen=True, slots=True)
class Faces:
    """Cached face crops; row i of every array belongs to face i."""

    crops: npt.NDArray[np.uint8]  # (N, CROP_SIZE, CROP_SIZE, 3)
    live: npt.NDArray[np.bool_]
    domain: npt.NDArray[np.str_]  # e.g. "nuaa/s01", "replay-dev/tranvanluyt", "replay-more/aksultan"
    subject: npt.NDArray[np.str_]
    clip: npt.NDArray[np.str_]  # the file (or video) a face comes from
    attack: npt.NDArray[np.str_]  # "none", "print", "replay"

    def __len__(self) -> int:
        return len(self.live)

    def take(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Faces:
        return Faces(*(getattr(self, f)[index] for f in self.__slots__))  # type: ignore[attr-defined]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, version=CACHE_VERSION, **{f: getattr(self, f) for f in self.__slots__})  # type: ignore[attr-defined]

    @classmethod
    def load(cls, path: Path) -> Faces:
        with np.load(path) as z:
            if int(z["version"]) != CACHE_VERSION:
                raise ValueError(f"{path}: cache version {int(z['version'])}, expected {CACHE_VERSION}")
            return cls(**{f: z[f] for f in cls.__slots__})  # type: ignore[attr-defined]


def served_crop(image: RGBImage) -> RGBImage | None:
    """The face crop the texture test is served for `image` (the largest face, upright), or None."""
    found = upright_face(image)
    return None if found is None else face_crop(*found)


def training_crop(image: RGBImage) -> RGBImage | None:
    """`served_crop`, else (training faces only) the crop found after padding the image with its own edge
    pixels: some tight crops show a face the served search misses, and they are still faces to learn from."""
    crop = served_crop(image)
    if crop is not None:
        return crop
    for frac in RETRY_PADS:
        pad = round(frac * max(image.shape[:2]))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        crop = served_crop(np.ascontiguousarray(padded))
        if crop is not None:
            return crop
    return None


@dataclass(frozen=True, slots=True)
class _Job:
    path: Path
    kind: str
    live: bool
    domain: str
    subject: str
    attack: str


def _frames(job: _Job) -> Iterator[RGBImage]:
    if job.kind == "image":
        yield load_image(job.path)
        return
    for index, frame, _ in iter_frames(job.path):
        if index % VIDEO_EVERY == 0:
            yield frame


def _faces_of(job: _Job) -> tuple[list[RGBImage], int]:
    found, missed = [], 0
    for frame in _frames(job):
        crop = training_crop(frame)
        if crop is None:
            missed += 1
        else:
            found.append(crop)
    return found, missed


def _jobs(data_root: Path) -> list[_Job]:
    return [
        _Job(t.sample.path, t.sample.kind, t.sample.is_live, t.domain, t.subject, t.sample.attack)
        for t in tagged_samples(data_root)
    ]


def extract(data_root: Path, workers: int = 2, progress: bool = True) -> tuple[Faces, dict[str, int]]:
    """Every face of the data sets under `data_root`, and how many frames per domain had no face found."""
    jobs = _jobs(data_root)
    crops: list[RGBImage] = []
    rows: list[tuple[bool, str, str, str, str]] = []
    missed: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_faces_of, jobs, chunksize=8)
        for job, (found, miss) in tqdm(
            zip(jobs, results, strict=True), total=len(jobs), desc="faces", disable=not progress
        ):
            missed[job.domain] = missed.get(job.domain, 0) + miss
            name = str(job.path.relative_to(data_root))
            crops.extend(found)
            rows.extend((job.live, job.domain, job.subject, name, job.attack) for _ in found)
    live, domain, subject, clip, attack = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    faces = Faces(
        crops=np.stack(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8),
        live=np.asarray(live, dtype=bool),
        domain=np.asarray(domain, dtype=str),
        subject=np.asarray(subject, dtype=str),
        clip=np.asarray(clip, dtype=str),
        attack=np.asarray(attack, dtype=str),
    )
    return faces, missed


def cached(cache_dir: Path, data_root: Path, workers: int = 2) -> Faces:
    """`extract` once per data root; later calls load the npz (no image is ever written, only face crops
    of the public training sets, under the cache folder the user chose)."""
    path = cache_dir / f"faces-v{CACHE_VERSION}-{CROP_SIZE}.npz"
    if path.is_file():
        return Faces.load(path)
    faces, missed = extract(data_root, workers)
    for domain, n in sorted(missed.items()):
        if n:
            log.warning("%s: no face found in %d frames (left out)", domain, n)
    faces.save(path)
    return faces
