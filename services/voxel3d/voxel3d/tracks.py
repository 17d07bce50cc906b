"""68-landmark tracks from the shared data sets, detected once and cached (training and evaluation only).

A track is one clip's landmarks over time: float32 (F, 68, 2) pixels plus a per-frame validity mask (exactly
one face found). Detection reuses `liveness.vision.face.observe`, the same code the gateway runs, so training
sees the landmarks serving sees. Detection is the slow part (about 50 ms a frame here), so each source is
written to `<cache>/<name>.npz` and read back on later runs.

Sources:
- replay-dev: `tranvanluyt` live and spoof videos, `krzysiek` live video and spoof crops (every 4th frame of a
  screen replay, cropped by the author's detector: each crop has its own origin and scale, which the affine
  camera model absorbs per frame).
- NUAA: still frames named `ID_glasses_pos_session_picNo.jpg`; the frames of one (ID, glasses, pos, session)
  are a recording, picNo being the frame number, so they group into clips (prints moved and bent by hand).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

import liveness.vision.face as face_mod
from liveness.data.samples import LIVE, nuaa, read_manifest
from liveness.data.video import iter_frames
from liveness.types import FaceObservation
from liveness.vision.decode import decode_image


@dataclass(frozen=True, slots=True)
class Track:
    """One clip's landmark track: points float32 (F, 68, 2), valid bool (F,), time stamps in ms."""

    name: str
    label: str
    attack: str
    subject: str
    points: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    timestamps_ms: npt.NDArray[np.int64]

    @property
    def is_live(self) -> bool:
        return self.label == LIVE

    def windows(self, length: int, stride: int) -> Iterator[npt.NDArray[np.float32]]:
        """Clips of `length` consecutive valid frames, every `stride` frames: float32 (length, 68, 2)."""
        ok = np.flatnonzero(self.valid)
        pts = self.points[ok]
        for start in range(0, len(ok) - length + 1, stride):
            yield pts[start : start + length]


def _observation_points(obs: FaceObservation) -> tuple[npt.NDArray[np.float32], bool]:
    if obs.count != 1 or obs.face is None or obs.face.landmarks is None:
        return np.zeros((face_mod.N_LANDMARKS, 2), np.float32), False
    return obs.face.landmarks.astype(np.float32), True


def _pad(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A tight face crop with a black margin of 40 % a side: HOG finds no face that touches the border."""
    h, w = image.shape[:2]
    m = int(0.4 * max(h, w))
    return np.ascontiguousarray(
        cv2.copyMakeBorder(image, m, m, m, m, cv2.BORDER_CONSTANT, value=(0, 0, 0)), np.uint8
    )


def _save(path: Path, tracks: list[Track]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for i, t in enumerate(tracks):
        arrays[f"{i}_points"] = t.points
        arrays[f"{i}_valid"] = t.valid
        arrays[f"{i}_ts"] = t.timestamps_ms
        arrays[f"{i}_meta"] = np.array([t.name, t.label, t.attack, t.subject])
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def _load(path: Path) -> list[Track]:
    with np.load(path) as z:
        n = len([k for k in z.files if k.endswith("_meta")])
        out = []
        for i in range(n):
            name, label, attack, subject = (str(s) for s in z[f"{i}_meta"])
            out.append(Track(name, label, attack, subject, z[f"{i}_points"], z[f"{i}_valid"], z[f"{i}_ts"]))
        return out


def _track_from_frames(name: str, label: str, attack: str, subject: str, frames: Iterator[tuple]) -> Track:
    pts, valid, ts = [], [], []
    for index, image, t_ms in frames:
        p, ok = _observation_points(face_mod.observe(image, index))
        pts.append(p)
        valid.append(ok)
        ts.append(t_ms)
    return Track(name, label, attack, subject, np.stack(pts), np.array(valid), np.array(ts, dtype=np.int64))


def replay_dev_tracks(root: Path, cache: Path) -> list[Track]:
    """Tracks of every replay-dev clip (videos frame by frame; the krzysiek spoof crops as one clip)."""
    path = cache / "replay_dev.npz"
    if path.exists():
        return _load(path)
    samples = list(read_manifest(root / "manifest.csv", dataset="replay-dev"))
    tracks = []
    for s in samples:
        if s.kind == "video":
            frames = iter_frames(s.path)
            tracks.append(
                _track_from_frames(
                    f"{s.subject}/{s.label}", s.label, s.attack, s.subject, tqdm(frames, desc=s.path.name)
                )
            )
    crops = sorted((s for s in samples if s.kind == "image"), key=lambda s: s.path.name)
    by_key: dict[tuple[str, str], list] = defaultdict(list)
    for s in crops:
        by_key[(s.subject, s.label)].append(s)
    for (subject, label), group in by_key.items():
        frames_iter = (
            (i, _pad(decode_image(s.path.read_bytes())), int(s.path.stem.split("_")[-1]) * 1000 // 16)
            for i, s in enumerate(group)
        )
        tracks.append(
            _track_from_frames(f"{subject}/{label}-crops", label, group[0].attack, subject, frames_iter)
        )
    _save(path, tracks)
    return tracks


def nuaa_tracks(root: Path, cache: Path) -> list[Track]:
    """One track per NUAA recording (subject, glasses, pose, session), frames ordered by frame number."""
    path = cache / "nuaa.npz"
    if path.exists():
        return _load(path)
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for s in nuaa(root):
        parts = s.path.stem.split("_")
        groups[(s.label, s.subject, "_".join(parts[1:4]))].append((int(parts[4]), s))
    tracks = []
    for (label, subject, key), items in tqdm(sorted(groups.items()), desc="nuaa recordings"):
        items.sort(key=lambda x: x[0])
        frames_iter = (
            (i, decode_image(s.path.read_bytes()), pic * 50) for i, (pic, s) in enumerate(items)
        )  # NUAA was recorded at 20 fps
        tracks.append(
            _track_from_frames(
                f"nuaa/{label}/{subject}_{key}", label, items[0][1].attack, subject, frames_iter
            )
        )
    _save(path, tracks)
    return tracks
