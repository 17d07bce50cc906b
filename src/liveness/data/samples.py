"""One small interface for every data set: a reader yields `Sample`s lazily; pixels load on demand.

Like seed 001's dataset managers, nothing is loaded all at once: a reader walks the folder or manifest and
yields lightweight records; `load_image` / `video.read_frames` read pixels only when asked.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from liveness.errors import InvalidInput

LIVE = "live"
SPOOF = "spoof"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True, slots=True)
class Sample:
    """One image or video of a data set.

    label is "live" or "spoof"; attack names the presentation-attack species ("none" for live, else e.g.
    "print", "replay", "mask"); subject identifies the person, for subject-disjoint splits.
    """

    path: Path
    label: str
    attack: str
    subject: str
    kind: str  # "image" or "video"
    dataset: str = ""
    split: str = ""  # the data set's own split (train/devel/test), if it has one
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_live(self) -> bool:
        return self.label == LIVE


def kind_of(path: Path) -> str:
    """"video" or "image" from the file suffix."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    raise InvalidInput(f"{path.name}: unknown media type {suffix!r}")


def read_manifest(manifest: Path, dataset: str = "") -> Iterator[Sample]:
    """Samples from a CSV with at least `path,label`; optional attack, subject, kind, split columns.

    Paths are relative to the manifest's folder. Other columns are kept in `extra`.
    """
    root = manifest.parent
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidInput(f"{manifest.name}: missing column(s) {sorted(missing)}")
        for row in reader:
            label = row["label"].strip().lower()
            if label not in (LIVE, SPOOF):
                raise InvalidInput(f"{manifest.name}: label {row['label']!r} is neither live nor spoof")
            path = root / row["path"]
            attack = (row.get("attack") or "").strip() or ("none" if label == LIVE else SPOOF)
            subject = (row.get("subject") or row.get("source") or "").strip() or path.parent.name
            known = {"path", "label", "attack", "subject", "kind", "split"}
            yield Sample(
                path=path,
                label=label,
                attack=attack,
                subject=subject,
                kind=(row.get("kind") or "").strip() or kind_of(path),
                dataset=dataset or manifest.parent.name,
                split=(row.get("split") or "").strip(),
                extra={k: v for k, v in row.items() if k not in known and v is not None},
            )


def nuaa(root: Path) -> Iterator[Sample]:
    """NUAA Photograph Imposter Database laid out as `{live,spoof}/<subject>/<file>.jpg`.

    Attack species is "print" for every spoof. The session comes from the file name
    (`ID_glasses_pos_session_picNo.jpg`).
    """
    for label in (LIVE, SPOOF):
        folder = root / label
        if not folder.is_dir():
            raise InvalidInput(f"{root}: no {label}/ folder; is this the NUAA layout?")
        for subject_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(subject_dir.glob("*.jpg")):
                parts = path.stem.split("_")
                session = parts[3] if len(parts) >= 5 else ""
                yield Sample(
                    path=path,
                    label=label,
                    attack="none" if label == LIVE else "print",
                    subject=subject_dir.name,
                    kind="image",
                    dataset="nuaa",
                    extra={"session": session},
                )


def subject_folds(samples: Iterable[Sample], k: int) -> list[tuple[list[Sample], list[Sample]]]:
    """k (train, validation) pairs with no subject on both sides.

    Subjects are dealt to folds in sorted order, round-robin, so the split is deterministic.
    """
    items = list(samples)
    subjects = sorted({s.subject for s in items})
    if k < 2 or k > len(subjects):
        raise ValueError(f"need 2 <= k <= {len(subjects)} subjects, got k={k}")
    fold_of = {subj: i % k for i, subj in enumerate(subjects)}
    return [
        ([s for s in items if fold_of[s.subject] != f], [s for s in items if fold_of[s.subject] == f])
        for f in range(k)
    ]
