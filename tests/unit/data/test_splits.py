"""Subject-disjoint splits: the round-robin folds and the seeded stratified variant."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from liveness.data.samples import LIVE, SPOOF, Sample, open_dataset, stratified_subject_folds, subject_folds


def _samples(spec: dict[str, tuple[int, int]]) -> list[Sample]:
    """subject -> (live count, spoof count)."""
    out = []
    for subject, (n_live, n_spoof) in spec.items():
        for label, n in ((LIVE, n_live), (SPOOF, n_spoof)):
            for i in range(n):
                out.append(
                    Sample(
                        path=Path(f"{subject}/{label}{i}.jpg"),
                        label=label,
                        attack="none" if label == LIVE else "print",
                        subject=subject,
                        kind="image",
                    )
                )
    return out


SPEC = {
    "s1": (5, 5),
    "s2": (5, 5),
    "s3": (3, 0),
    "s4": (3, 0),
    "s5": (0, 4),
    "s6": (0, 4),
    "s7": (2, 2),
    "s8": (1, 1),
}


def _check_partition(samples: list[Sample], folds: list[tuple[list[Sample], list[Sample]]]) -> None:
    validation_subjects: list[str] = []
    for train, val in folds:
        assert len(train) + len(val) == len(samples)
        assert not {s.subject for s in train} & {s.subject for s in val}
        validation_subjects += sorted({s.subject for s in val})
    # Each subject is validated exactly once.
    assert sorted(validation_subjects) == sorted({s.subject for s in samples})


def test_subject_folds_round_robin() -> None:
    samples = _samples(SPEC)
    folds = subject_folds(samples, 3)
    _check_partition(samples, folds)
    # Sorted subjects dealt round-robin: fold 0 = s1, s4, s7.
    assert {s.subject for s in folds[0][1]} == {"s1", "s4", "s7"}


@pytest.mark.parametrize("k", [1, 9])
def test_fold_count_is_checked(k: int) -> None:
    with pytest.raises(ValueError, match="subjects"):
        subject_folds(_samples(SPEC), k)
    with pytest.raises(ValueError, match="subjects"):
        stratified_subject_folds(_samples(SPEC), k)


def test_stratified_folds_are_disjoint_balanced_and_seeded() -> None:
    samples = _samples(SPEC)
    folds = stratified_subject_folds(samples, 2, seed=7)
    _check_partition(samples, folds)
    for _, val in folds:
        # Both labels in every validation fold, each side with a fair share of the 44 samples.
        labels = Counter(s.label for s in val)
        assert labels[LIVE] > 0 and labels[SPOOF] > 0
        assert 16 <= len(val) <= 28
    # Live-only subjects (s3, s4) and spoof-only ones (s5, s6) are split across the two folds.
    for pair in ({"s3", "s4"}, {"s5", "s6"}):
        assert all(len(pair & {s.subject for s in val}) == 1 for _, val in folds)
    again = stratified_subject_folds(samples, 2, seed=7)
    assert [[s.path for s in v] for _, v in again] == [[s.path for s in v] for _, v in folds]


def test_different_seeds_give_different_stratified_folds() -> None:
    samples = _samples({f"p{i:02d}": (2, 2) for i in range(12)})
    layouts = {
        tuple(sorted(s.subject for s in stratified_subject_folds(samples, 3, seed=seed)[0][1]))
        for seed in range(6)
    }
    assert len(layouts) > 1


def test_stratified_folds_on_nuaa(data_root: Path) -> None:
    samples = list(open_dataset(data_root / "nuaa"))
    folds = stratified_subject_folds(samples, 3, seed=0)
    _check_partition(samples, folds)
    for _, val in folds:
        labels = Counter(s.label for s in val)
        assert min(labels[LIVE], labels[SPOOF]) > 400
