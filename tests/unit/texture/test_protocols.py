"""liveness.data.protocols: every fold holds out a domain (and people) its training side never contains."""

from __future__ import annotations

import numpy as np
import pytest

from liveness.data.protocols import folds, source_of

DOMAINS = ["nuaa/s01"] * 4 + ["nuaa/s02"] * 4 + ["replay-more/a"] * 2 + ["replay-dev/b"] * 2
SUBJECTS = [
    "1",
    "2",
    "3",
    "4",
    "1",
    "2",
    "3",
    "5",
    "replay-more/a",
    "replay-more/a",
    "replay-dev/b",
    "replay-dev/b",
]


def test_cross_session_tests_each_nuaa_session_on_a_model_that_never_saw_it() -> None:
    out = folds("cross-session", DOMAINS, SUBJECTS)
    assert [f.name for f in out] == ["nuaa/s01", "nuaa/s02"]
    dom = np.asarray(DOMAINS)
    for f in out:
        assert set(dom[f.test]) == {f.name} and f.name not in set(dom[f.train])
        assert (f.train | f.test).all()  # every other domain trains


def test_cross_session_subject_also_removes_the_tested_people_from_training() -> None:
    out = folds("cross-session-subject", DOMAINS, SUBJECTS)
    subj, dom = np.asarray(SUBJECTS), np.asarray(DOMAINS)
    assert len(out) == 6  # 2 sessions x 3 people groups, each with someone in it
    for f in out:
        assert not set(subj[f.test]) & set(subj[f.train])
        assert not set(dom[f.test]) & set(dom[f.train])


def test_cross_source_keeps_nuaa_sessions_together() -> None:
    out = folds("cross-source", DOMAINS, SUBJECTS)
    assert [f.name for f in out] == ["nuaa", "replay-dev/b", "replay-more/a"]
    assert out[0].test.sum() == 8 and not out[0].train[:8].any()
    assert source_of("nuaa/s02") == "nuaa" and source_of("replay-more/a") == "replay-more/a"


def test_unknown_protocol_and_missing_domains_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        folds("within-session", DOMAINS, SUBJECTS)
    with pytest.raises(ValueError, match="none of the domains"):
        folds("cross-session", ["replay-more/a"], ["x"])
    with pytest.raises(ValueError, match="one entry per row"):
        folds("cross-source", DOMAINS, SUBJECTS[:-1])
