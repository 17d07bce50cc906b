"""One small interface for every data set: a reader yields `Sample`s lazily; pixels load on demand.

Like seed 001's dataset managers, nothing is loaded all at once: a reader walks the folder or manifest and
yields lightweight records; `load_image` / `video.read_frames` read pixels only when asked.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liveness.errors import InvalidInput
from liveness.types import Media, RGBImage
from liveness.vision.decode import MediaLimits, decode_image

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
    """ "video" or "image" from the file suffix."""
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


REPLAY_ATTACK_SPLITS = ("train", "devel", "test")
# Replay-Attack attack file names start with the attack medium (after "attack_"): a printed photo, or a photo
# or video shown on a high-definition tablet or a phone screen.
_REPLAY_ATTACK_MEDIA = {"print": "print", "highdef": "replay", "mobile": "replay"}
_CLIENT = re.compile(r"client(\d+)")


def replay_attack(root: Path, splits: Sequence[str] | None = None) -> Iterator[Sample]:
    """Idiap Replay-Attack: `{train,devel,test}/real/*.mov` and `.../attack/{fixed,hand}/*.mov`.

    Species from the file name: `attack_print_*` is "print", `attack_highdef_*` and `attack_mobile_*` are
    "replay" (screens). Subject is `client0NN` from the name (clients differ between splits). `extra` keeps
    medium (print/highdef/mobile), support (fixed/hand, attacks only) and content (photo/video) when named.
    `splits` None reads every split folder present.
    """
    return _replay_attack(root, _splits(root, "Replay-Attack", {s: s for s in REPLAY_ATTACK_SPLITS}, splits))


def _replay_attack(root: Path, splits: list[str]) -> Iterator[Sample]:
    for split in splits:
        split_dir = root / split
        folders = [(split_dir / "real", "")] + [(split_dir / "attack" / s, s) for s in ("fixed", "hand")]
        for folder, support in folders:
            if not folder.is_dir():
                continue
            for path in _videos(folder):
                client = _CLIENT.search(path.stem)
                if client is None:
                    raise InvalidInput(f"{path.name}: no client0NN in the file name")
                extra = {}
                if support:
                    stem = path.stem.lower().removeprefix("attack_")
                    medium = stem.split("_", 1)[0]
                    if medium not in _REPLAY_ATTACK_MEDIA:
                        raise InvalidInput(
                            f"{path.name}: unknown attack medium {medium!r} (print/highdef/mobile)"
                        )
                    attack = _REPLAY_ATTACK_MEDIA[medium]
                    extra = {"medium": medium, "support": support}
                    for content in ("photo", "video"):
                        if f"_{content}" in stem:
                            extra["content"] = content
                yield Sample(
                    path=path,
                    label=SPOOF if support else LIVE,
                    attack=attack if support else "none",
                    subject=f"client{client.group(1)}",
                    kind="video",
                    dataset="replay-attack",
                    split=split,
                    extra=extra,
                )


CASIA_SPLITS = ("train", "test")
# CASIA-FASD file stems per subject: low (1, 3, 5, 7), normal (2, 4, 6, 8) and high (HR_*) quality.
_CASIA = {
    "1": ("none", "low"),
    "2": ("none", "normal"),
    "HR_1": ("none", "high"),
    "3": ("warped_print", "low"),
    "4": ("warped_print", "normal"),
    "HR_2": ("warped_print", "high"),
    "5": ("cut_print", "low"),
    "6": ("cut_print", "normal"),
    "HR_3": ("cut_print", "high"),
    "7": ("replay", "low"),
    "8": ("replay", "normal"),
    "HR_4": ("replay", "high"),
}


def casia_fasd(root: Path, splits: Sequence[str] | None = None) -> Iterator[Sample]:
    """CASIA-FASD: `{train,test}_release/<subject>/<n>.avi`.

    1, 2, HR_1 are live; 3, 4, HR_2 warped photo ("warped_print"); 5, 6, HR_3 photo with the eyes cut out
    ("cut_print"); 7, 8, HR_4 video replay ("replay"). The train and test sets hold different people who reuse
    folder numbers, so subject is "<split>_<folder>". Files with other names are skipped. `splits` None reads
    every split folder present.
    """
    return _casia_fasd(root, _splits(root, "CASIA-FASD", {s: f"{s}_release" for s in CASIA_SPLITS}, splits))


def _casia_fasd(root: Path, splits: list[str]) -> Iterator[Sample]:
    for split in splits:
        split_dir = root / f"{split}_release"
        for subject_dir in sorted((p for p in split_dir.iterdir() if p.is_dir()), key=_natural):
            for path in _videos(subject_dir):
                known = _CASIA.get(path.stem.upper() if path.stem.lower().startswith("hr_") else path.stem)
                if known is None:
                    continue
                attack, quality = known
                yield Sample(
                    path=path,
                    label=LIVE if attack == "none" else SPOOF,
                    attack=attack,
                    subject=f"{split}_{subject_dir.name}",
                    kind="video",
                    dataset="casia-fasd",
                    split=split,
                    extra={"quality": quality},
                )


OULU_SPLITS = ("train", "dev", "test")
_OULU_FOLDER = {"train": "Train_files", "dev": "Dev_files", "test": "Test_files"}
# OULU-NPU file type (last field of the name): 1 live, 2-3 print (printer 1, 2), 4-5 replay (display 1, 2).
_OULU_FILE = {
    "1": ("none", ""),
    "2": ("print", "print1"),
    "3": ("print", "print2"),
    "4": ("replay", "replay1"),
    "5": ("replay", "replay2"),
}
_OULU_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)$")


def oulu_npu(root: Path, splits: Sequence[str] | None = None) -> Iterator[Sample]:
    """OULU-NPU: `{Train,Dev,Test}_files/<phone>_<session>_<user>_<file>.avi`.

    file 1 is live, 2-3 "print", 4-5 "replay"; subject is the user (users differ between splits). `extra`
    keeps phone, session and the exact instrument (print1, print2, replay1, replay2) for the protocols.
    `splits` None reads every split folder present.
    """
    return _oulu_npu(root, _splits(root, "OULU-NPU", _OULU_FOLDER, splits))


def _oulu_npu(root: Path, splits: list[str]) -> Iterator[Sample]:
    for split in splits:
        folder = root / _OULU_FOLDER[split]
        for path in _videos(folder):
            match = _OULU_NAME.match(path.stem)
            if match is None or match.group(4) not in _OULU_FILE:
                raise InvalidInput(f"{path.name}: not <phone>_<session>_<user>_<file 1-5>")
            phone, session, user, file_type = match.groups()
            attack, instrument = _OULU_FILE[file_type]
            extra = {"phone": phone, "session": session}
            if instrument:
                extra["instrument"] = instrument
            yield Sample(
                path=path,
                label=LIVE if attack == "none" else SPOOF,
                attack=attack,
                subject=user,
                kind="video",
                dataset="oulu-npu",
                split=split,
                extra=extra,
            )


def _splits(root: Path, layout: str, folders: dict[str, str], wanted: Sequence[str] | None) -> list[str]:
    """The splits to read, checked now: the named ones (each folder must exist), or all present."""
    if wanted is None:
        present = [s for s, folder in folders.items() if (root / folder).is_dir()]
        if not present:
            raise InvalidInput(f"{root}: none of {sorted(folders.values())}; is this the {layout} layout?")
        return present
    for split in wanted:
        if split not in folders:
            raise InvalidInput(f"{layout} has no split {split!r} (splits: {list(folders)})")
        if not (root / folders[split]).is_dir():
            raise InvalidInput(f"{root}: no {folders[split]}/ folder; is this the {layout} layout?")
    return list(wanted)


def _videos(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES), key=_natural
    )


def _natural(path: Path) -> tuple[int, int | str]:
    """Sort key: numeric names by value (2 before 10), then the rest by name."""
    return (0, int(path.stem)) if path.stem.isdigit() else (1, path.name)


def detect_layout(path: Path) -> str:
    """Which reader `path` needs: manifest, nuaa, replay-attack, casia-fasd or oulu-npu.

    A .csv file is a manifest; a folder with live/ and spoof/ is the NUAA layout; Replay-Attack, CASIA-FASD
    and OULU-NPU are recognised by their split folders; any other folder holding a manifest.csv is that
    manifest. Raises InvalidInput naming the layouts it looked for.
    """
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "manifest"
        raise InvalidInput(f"{path.name}: a data set is a folder or a manifest .csv")
    if not path.is_dir():
        raise InvalidInput(f"{path}: no such file or folder")
    if (path / LIVE).is_dir() and (path / SPOOF).is_dir():
        return "nuaa"
    if any((path / s / "real").is_dir() or (path / s / "attack").is_dir() for s in REPLAY_ATTACK_SPLITS):
        return "replay-attack"
    if any((path / f"{s}_release").is_dir() for s in CASIA_SPLITS):
        return "casia-fasd"
    if any((path / f).is_dir() for f in _OULU_FOLDER.values()):
        return "oulu-npu"
    if (path / "manifest.csv").is_file():
        return "manifest"
    raise InvalidInput(
        f"{path}: unknown data set layout; expected a manifest .csv, live/ + spoof/ (NUAA), "
        "{train,devel,test}/{real,attack} (Replay-Attack), {train,test}_release (CASIA-FASD), "
        "{Train,Dev,Test}_files (OULU-NPU), or a folder with manifest.csv"
    )


def open_dataset(path: Path, splits: Sequence[str] | None = None) -> Iterator[Sample]:
    """Samples of the data set at `path`, with the reader `detect_layout` picks.

    The layout is checked now (bad paths fail at the call, not at the first `next`); samples stream lazily.
    `splits` keeps only those of the data set's own splits (for layouts that have them, and manifests with a
    split column); None keeps all.
    """
    layout = detect_layout(path)
    readers: dict[str, Callable[[Path, Sequence[str] | None], Iterator[Sample]]] = {
        "replay-attack": replay_attack,
        "casia-fasd": casia_fasd,
        "oulu-npu": oulu_npu,
    }
    if layout in readers:
        return readers[layout](path, splits)
    if layout == "nuaa":
        samples = nuaa(path)
    else:
        samples = read_manifest(path if path.is_file() else path / "manifest.csv")
    if splits is None:
        return samples
    wanted = set(splits)
    return (s for s in samples if s.split in wanted)


LOAD_LIMITS = MediaLimits(max_image_bytes=64 * 1024 * 1024, max_pixels=8192 * 8192, min_side=8)
"""Data set images are trusted files, so the limits are looser than for requests."""


def load_image(path: Path) -> RGBImage:
    """One data set image as RGB uint8 (H, W, 3), decoded by the same code as requests."""
    return decode_image(path.read_bytes(), LOAD_LIMITS, what=path.name)


def load_media(sample: Sample, frames: int = 16) -> Media:
    """The sample as request media: a single image, or a clip of `frames` evenly spaced video frames."""
    if sample.kind == "image":
        return Media(frames=(load_image(sample.path),), timestamps_ms=(0,), is_clip=False)
    from liveness.data.video import read_clip

    return read_clip(sample.path, count=frames)


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


def stratified_subject_folds(
    samples: Iterable[Sample], k: int, seed: int = 0
) -> list[tuple[list[Sample], list[Sample]]]:
    """Seeded k (train, validation) pairs, subject-disjoint, with live and spoof spread over every fold.

    Subjects are grouped by which labels they have (live only, spoof only, both); each group is shuffled
    with `seed`, then its subjects go, largest first, to the fold holding the fewest samples of that group,
    so every fold gets a share of each kind of subject and folds have similar sizes.
    """
    items = list(samples)
    by_subject: dict[str, list[Sample]] = {}
    for s in items:
        by_subject.setdefault(s.subject, []).append(s)
    if k < 2 or k > len(by_subject):
        raise ValueError(f"need 2 <= k <= {len(by_subject)} subjects, got k={k}")
    rng = random.Random(seed)
    groups: dict[tuple[bool, bool], list[str]] = {}
    for subject in sorted(by_subject):
        labels = {s.label for s in by_subject[subject]}
        groups.setdefault((LIVE in labels, SPOOF in labels), []).append(subject)
    fold_of: dict[str, int] = {}
    start = 0
    for key in sorted(groups):
        subjects = groups[key]
        rng.shuffle(subjects)
        subjects.sort(key=lambda subj: -len(by_subject[subj]))  # stable: ties keep the shuffled order
        load = [0] * k
        for j, subject in enumerate(subjects):
            # Rotating the tie-break start spreads small groups over different folds.
            fold = min(range(k), key=lambda f: (load[f], (f - start - j) % k))
            fold_of[subject] = fold
            load[fold] += len(by_subject[subject])
        start += len(subjects)
    return [
        ([s for s in items if fold_of[s.subject] != f], [s for s in items if fold_of[s.subject] == f])
        for f in range(k)
    ]
