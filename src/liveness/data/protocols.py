"""Validation protocols that hold out what a deployment will meet: another session, another source.

A *domain* is one recording condition: one NUAA session (day, light, placement), one replay-dev person's
phone recording, one replay-more source (its own camera, screen and room). A protocol is a list of folds;
every fold tests on data whose domain the training side never contains, so its figures predict unseen
conditions. Within-session or within-source folds share the camera, the light and the background with
their training data and reward memorising them: they are a smoke test, never a headline.

- cross-session: NUAA session 01 held out (trained on everything else, session 02 included), then 02.
  People overlap between sessions, as in NUAA's official protocol (train 01+02, test 03).
- cross-session-subject: the same, and the tested people are also removed from every training domain
  (NUAA's nine people dealt round-robin into three groups): session- and subject-disjoint.
- cross-source: leave one source out: NUAA (both sessions), each replay-dev person, each replay-more source.

`tagged_samples` reads the data sets under a data root and tags every sample with its domain; it is the one
place that says what a domain is, for training (texture.data) and for `liveness eval --protocol` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from liveness.data.samples import LIVE, SPOOF, Sample, nuaa, read_manifest
from liveness.errors import InvalidInput

PROTOCOLS = ("cross-session", "cross-session-subject", "cross-source")
NUAA_PREFIX = "nuaa/"
SUBJECT_GROUPS = 3
DATASETS = ("nuaa", "replay-dev", "replay-more")
"""The data sets a data root may hold: nuaa/ (NUAA layout), replay-dev/ and replay-more/ (manifest.csv)."""

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Fold:
    """One train/test split: boolean masks over the same rows."""

    name: str
    train: Mask
    test: Mask


@dataclass(frozen=True, slots=True)
class Tagged:
    """A sample with its domain and the subject the subject-disjoint protocol keeps apart."""

    sample: Sample
    domain: str
    subject: str  # NUAA: the person; elsewhere the domain itself (one person or one source per domain)


def domain_of(sample: Sample, root: Path) -> str:
    """The domain of a sample of the data set in folder `root`.

    NUAA: "nuaa/s<session>" (the session from the file name). A manifest data set: "<dataset>/<first folder
    of the sample's path under root>" (replay-dev: the person; replay-more: the source). InvalidInput when
    the sample carries neither.
    """
    if sample.dataset == "nuaa":
        session = sample.extra.get("session", "")
        if not session:
            raise InvalidInput(
                f"{sample.path.name}: no session in the NUAA file name (ID_glasses_pos_session_n)"
            )
        return f"{NUAA_PREFIX}s{session}"
    try:
        parts = sample.path.relative_to(root).parts
    except ValueError:
        raise InvalidInput(f"{sample.path.name}: not inside the data set folder {root.name}/") from None
    if len(parts) < 2:
        raise InvalidInput(
            f"{sample.path.name}: a {sample.dataset} file must sit in a person or source folder"
        )
    return f"{sample.dataset}/{parts[0]}"


def tagged_samples(root: Path) -> list[Tagged]:
    """Every sample of the data sets under `root`, tagged with its domain.

    `root` holds some of nuaa/, replay-dev/manifest.csv, replay-more/manifest.csv (the shared data layout),
    or is one data set folder itself: a NUAA layout (live/ + spoof/) or a folder with manifest.csv, named
    after its data set. InvalidInput names what was looked for when nothing is found.
    """
    found: list[tuple[str, Path]] = [
        (name, root / name) for name in DATASETS if _is_dataset(name, root / name)
    ]
    if not found:
        name = "nuaa" if _is_nuaa(root) else root.name
        if _is_dataset(name, root):
            found = [(name, root)]
    if not found:
        raise InvalidInput(
            f"{root}: none of nuaa/ (live/ + spoof/), replay-dev/manifest.csv, replay-more/manifest.csv, "
            "and not one such data set folder itself"
        )
    out: list[Tagged] = []
    for name, folder in found:
        samples = nuaa(folder) if name == "nuaa" else read_manifest(folder / "manifest.csv", dataset=name)
        for s in samples:
            domain = domain_of(s, folder)
            out.append(Tagged(s, domain, s.subject if name == "nuaa" else domain))
    return out


def _is_nuaa(folder: Path) -> bool:
    return (folder / LIVE).is_dir() and (folder / SPOOF).is_dir()


def _is_dataset(name: str, folder: Path) -> bool:
    return _is_nuaa(folder) if name == "nuaa" else (folder / "manifest.csv").is_file()


def source_of(domain: str) -> str:
    """The source a domain belongs to: NUAA's sessions share one ("nuaa"); other domains are sources."""
    return "nuaa" if domain.startswith(NUAA_PREFIX) else domain


def folds(
    protocol: str,
    domains: Sequence[str] | npt.NDArray[np.str_],
    subjects: Sequence[str] | npt.NDArray[np.str_],
) -> list[Fold]:
    """The folds of `protocol` over rows tagged with their domain and subject; ValueError when the rows
    hold no domain the protocol needs."""
    dom = np.asarray(domains, dtype=str)
    subj = np.asarray(subjects, dtype=str)
    if dom.shape != subj.shape:
        raise ValueError("domains and subjects must have one entry per row")
    sessions = sorted({d for d in dom.tolist() if d.startswith(NUAA_PREFIX)})
    out: list[Fold] = []
    if protocol == "cross-session":
        for held in sessions:
            out.append(Fold(held, train=dom != held, test=dom == held))
    elif protocol == "cross-session-subject":
        people = sorted(
            {s for s, d in zip(subj.tolist(), dom.tolist(), strict=True) if d.startswith(NUAA_PREFIX)}
        )
        groups = [people[g::SUBJECT_GROUPS] for g in range(SUBJECT_GROUPS)]
        for held in sessions:
            for g, group in enumerate(groups):
                in_group = np.isin(subj, group)
                test = (dom == held) & in_group
                if test.any():
                    out.append(Fold(f"{held}/people{g + 1}", train=(dom != held) & ~in_group, test=test))
    elif protocol == "cross-source":
        source = np.asarray([source_of(d) for d in dom.tolist()], dtype=str)
        for held in sorted(set(source.tolist())):
            out.append(Fold(held, train=source != held, test=source == held))
    else:
        raise ValueError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    if not out:
        raise ValueError(f"protocol {protocol}: the data hold none of the domains it tests on")
    return out
