"""Training sequences for the LSTM-CNN: face-crop tracks from NUAA runs, replay-dev and synthetic attacks.

Face detection runs once per frame and the crops, boxes and landmarks are cached in one npz, so training,
the blink evaluation and reruns never detect again. A track is a run of frames of one presentation:
- NUAA: the frames of one (subject, glasses, position, session) run in picture order, live or print;
- replay-dev: a video read every `VIDEO_EVERY`-th frame, or the Krzysiek replay crops in order;
- synthetic: one NUAA live still shown as a rigidly moved print, a bending print or a screen
  (`temporal.synth`), always spoof.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from liveness.data.samples import Sample, nuaa, read_manifest, subject_folds
from liveness.data.video import read_frames
from liveness.types import Box, RGBImage
from liveness.vision import face as facelib
from temporal.sequence import SEQ_LEN, frame_crop
from temporal.synth import KINDS, make_sequence

VIDEO_EVERY = 3
SYNTH_EVERY = 3  # one synthetic attack per this many NUAA live stills
CACHE_NAMES = ("sequence_tracks_nuaa.npz", "sequence_tracks_replay.npz")
# Replay-dev frames are up to 1920x1080 with the face a small part of it: detect on a larger copy.
REPLAY_DETECTOR = facelib.DetectorSettings(detect_max_side=640)


@dataclass(frozen=True, slots=True)
class Track:
    """Metadata of one track; its frames are rows `start:stop` of the cache arrays."""

    source: str  # nuaa, replay-dev/<folder>, synthetic-<kind>
    subject: str
    label: int  # 1 live, 0 spoof
    start: int
    stop: int


class _Writer:
    def __init__(self) -> None:
        self.crops: list[RGBImage] = []
        self.boxes: list[list[float]] = []
        self.landmarks: list[npt.NDArray[np.float32]] = []
        self.has_face: list[bool] = []
        self.tracks: list[dict[str, Any]] = []

    def add_track(
        self,
        source: str,
        subject: str,
        label: int,
        frames: list[tuple[RGBImage, Any]],
        detector: facelib.DetectorSettings = facelib.DEFAULT_DETECTOR,
        whole_if_missed: bool = False,
    ) -> None:
        """frames: (image, box or None to detect); `whole_if_missed` uses the whole image for face crops."""
        start = len(self.crops)
        for image, known_box in frames:
            landmarks = np.full((facelib.N_LANDMARKS, 2), np.nan, np.float32)
            box = known_box
            if box is None:
                obs = facelib.observe(image, settings=detector)
                if obs.face is not None:
                    box = obs.face.box
                    if obs.face.landmarks is not None:
                        landmarks = obs.face.landmarks
                elif whole_if_missed:
                    box = Box(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
            if box is None:
                self.crops.append(np.zeros((64, 64, 3), np.uint8))
                self.boxes.append([np.nan] * 4)
                self.has_face.append(False)
            else:
                self.crops.append(frame_crop(image, box))
                self.boxes.append([box.left, box.top, box.right, box.bottom])
                self.has_face.append(True)
            self.landmarks.append(landmarks)
        self.tracks.append(
            {"source": source, "subject": subject, "label": label, "start": start, "stop": len(self.crops)}
        )

    def save(self, path: Path) -> None:
        """Write atomically, so an interrupted run leaves no half-written cache behind."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(
            partial,
            crops=np.stack(self.crops),
            boxes=np.array(self.boxes, np.float32),
            landmarks=np.stack(self.landmarks),
            has_face=np.array(self.has_face),
            tracks=np.array(json.dumps(self.tracks)),
        )
        partial.replace(path)


def _load(path: Path) -> RGBImage:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _nuaa_runs(root: Path) -> dict[tuple[str, str, str], list[Sample]]:
    runs: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    for s in nuaa(root):
        run = "_".join(s.path.stem.split("_")[1:4])
        runs[(s.label, s.subject, run)].append(s)
    for frames in runs.values():
        frames.sort(key=lambda s: int(s.path.stem.split("_")[-1]))
    return runs


def build_cache(data: Path, cache: Path, seed: int) -> None:
    """Detect, crop and synthesise every track once; writes the CACHE_NAMES files that are missing."""
    if not (cache / CACHE_NAMES[0]).exists():
        _build_nuaa(data, cache / CACHE_NAMES[0], seed)
    if not (cache / CACHE_NAMES[1]).exists():
        _build_replay(data, cache / CACHE_NAMES[1])


def _build_nuaa(data: Path, path: Path, seed: int) -> None:
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    writer = _Writer()
    runs = _nuaa_runs(data / "nuaa")
    synth_count = 0
    for (label, subject, _run), samples in tqdm(sorted(runs.items()), desc="nuaa runs", unit="run"):
        images = [_load(s.path) for s in samples]
        writer.add_track("nuaa", subject, int(label == "live"), [(im, None) for im in images])
        if label != "live":
            continue
        track = writer.tracks[-1]
        for k in range(0, len(images), SYNTH_EVERY):
            row = track["start"] + k
            if not writer.has_face[row]:
                continue
            box = Box(*(float(v) for v in writer.boxes[row]))
            kind = KINDS[synth_count % len(KINDS)]
            seq = make_sequence(images[k], box, SEQ_LEN, kind, rng)
            writer.add_track(f"synthetic-{kind}", subject, 0, list(zip(seq.frames, seq.boxes, strict=True)))
            synth_count += 1
    writer.save(path)


def _build_replay(data: Path, path: Path) -> None:
    from tqdm import tqdm

    writer = _Writer()
    replay = data / "replay-dev"
    by_track: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in read_manifest(replay / "manifest.csv", dataset="replay-dev"):
        by_track[(s.path.relative_to(replay).parts[0], s.label)].append(s)
    for (folder, label), samples in tqdm(sorted(by_track.items()), desc="replay-dev", unit="track"):
        if samples[0].kind == "video":
            for s in samples:
                frames = [(f, None) for f, _ in read_frames(s.path, every=VIDEO_EVERY)]
                writer.add_track(
                    f"replay-dev/{folder}", folder, int(label == "live"), frames, REPLAY_DETECTOR
                )
        else:
            # Face crops cut by the data set author's detector: where HOG misses the face (it fills the
            # picture), the whole crop is the face box.
            frames = [(_load(s.path), None) for s in sorted(samples, key=lambda s: s.path.name)]
            writer.add_track(
                f"replay-dev/{folder}", folder, int(label == "live"), frames, REPLAY_DETECTOR, True
            )
    writer.save(path)


@dataclass(frozen=True, slots=True)
class TrackCache:
    crops: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.float32]
    landmarks: npt.NDArray[np.float32]
    has_face: npt.NDArray[np.bool_]
    tracks: tuple[Track, ...]


def load_cache(cache: Path) -> TrackCache:
    """All CACHE_NAMES files of `cache` joined into one set of arrays (track rows renumbered)."""
    parts: list[dict[str, Any]] = []
    tracks: list[Track] = []
    offset = 0
    for name in CACHE_NAMES:
        with np.load(cache / name) as npz:
            part = {k: npz[k] for k in ("crops", "boxes", "landmarks", "has_face")}
            for t in json.loads(str(npz["tracks"])):
                t["start"] += offset
                t["stop"] += offset
                tracks.append(Track(**t))
        offset += len(part["crops"])
        parts.append(part)
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return TrackCache(
        joined["crops"], joined["boxes"], joined["landmarks"], joined["has_face"], tuple(tracks)
    )


def windows(track: Track, has_face: npt.NDArray[np.bool_], stride: int) -> list[list[int]]:
    """Row indexes of SEQ_LEN consecutive face frames of `track`, every `stride` frames."""
    rows = [r for r in range(track.start, track.stop) if has_face[r]]
    if len(rows) < SEQ_LEN:
        return []
    return [rows[i : i + SEQ_LEN] for i in range(0, len(rows) - SEQ_LEN + 1, stride)]


VAL_FOLD = 0
"""NUAA subjects of subject_folds(k=3) fold 0 (0001, 0004, 0007) and replay-dev/krzysiek validate."""


def split_tracks(tracks: tuple[Track, ...]) -> tuple[list[Track], list[Track]]:
    """(train, validation) tracks with no person on both sides."""
    nuaa_tracks = [t for t in tracks if t.source == "nuaa" or t.source.startswith("synthetic")]
    subjects = sorted({t.subject for t in nuaa_tracks})
    fake = [Sample(Path(s), "live", "none", s, "image") for s in subjects]
    _, val_samples = subject_folds(fake, k=3)[VAL_FOLD]
    val_subjects = {s.subject for s in val_samples} | {"krzysiek"}
    train = [t for t in tracks if t.subject not in val_subjects]
    val = [t for t in tracks if t.subject in val_subjects]
    return train, val
