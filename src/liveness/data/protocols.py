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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PROTOCOLS = ("cross-session", "cross-session-subject", "cross-source")
NUAA_PREFIX = "nuaa/"
SUBJECT_GROUPS = 3

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Fold:
    """One train/test split: boolean masks over the same rows."""

    name: str
    train: Mask
    test: Mask


def source_of(domain: str) -> str:
    """The source a domain belongs to: NUAA's sessions share one ("nuaa"); other domains are sources."""
    return "nuaa" if domain.startswith(NUAA_PREFIX) else domain


def folds(
    protocol: str, domains: Sequence[str] | npt.NDArray[np.str_], subjects: Sequence[str]
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
