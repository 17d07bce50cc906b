"""ISO/IEC 30107-3 metrics against small tables computed by hand (the working is in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from liveness import iso30107 as m

# A shared example. score = P(live); accept as live when score >= threshold.
#
#   item  label   species  score
#   a     live    none     0.90
#   b     live    none     0.70
#   c     live    none     0.40
#   d     live    none     0.20
#   e     attack  print    0.80
#   f     attack  print    0.30
#   g     attack  print    0.10
#   h     attack  replay   0.60
#   i     attack  replay   0.50
SCORES = [0.9, 0.7, 0.4, 0.2, 0.8, 0.3, 0.1, 0.6, 0.5]
LIVE = [True, True, True, True, False, False, False, False, False]
SPECIES = ["none", "none", "none", "none", "print", "print", "print", "replay", "replay"]


def test_rates_at_threshold_per_species_and_worst_case() -> None:
    # threshold 0.5:
    #   live accepted: a 0.9, b 0.7 -> rejected c, d -> BPCER = 2/4 = 0.5
    #   print accepted: e 0.8 -> APCER_print = 1/3
    #   replay accepted: h 0.6, i 0.5 (tie accepts) -> APCER_replay = 2/2 = 1
    #   worst APCER = 1; ACER = (1 + 0.5) / 2 = 0.75
    #   pooled APCER = 3/5 = 0.6; HTER = (0.6 + 0.5) / 2 = 0.55
    r = m.rates_at(SCORES, LIVE, 0.5, SPECIES)
    assert r.apcer_by_species == pytest.approx({"print": 1 / 3, "replay": 1.0})
    assert r.apcer == pytest.approx(1.0)
    assert r.worst_species == "replay"
    assert r.bpcer == pytest.approx(0.5)
    assert r.acer == pytest.approx(0.75)
    assert r.apcer_pooled == pytest.approx(0.6)
    assert r.hter == pytest.approx(0.55)
    assert r.n_bona_fide == 4
    assert r.n_attack_by_species == {"print": 3, "replay": 2}


def test_rates_at_a_higher_threshold() -> None:
    # threshold 0.65: live accepted a, b -> BPCER 2/4; print accepted e -> 1/3; replay none -> 0
    # worst APCER 1/3 (print); ACER = (1/3 + 1/2) / 2 = 5/12
    r = m.rates_at(SCORES, LIVE, 0.65, SPECIES)
    assert r.apcer_by_species == pytest.approx({"print": 1 / 3, "replay": 0.0})
    assert r.worst_species == "print"
    assert r.acer == pytest.approx(5 / 12)


def test_curve_lists_every_decision_changing_threshold() -> None:
    # Distinct scores ascending: .1 .2 .3 .4 .5 .6 .7 .8 .9, then one just above .9.
    # At t, BPCER = live below t / 4; APCER = attacks >= t / 5.
    #   t:     .1   .2   .3   .4   .5   .6   .7   .8   .9   >.9
    #   BPCER  0    0    1/4  1/4  2/4  2/4  2/4  3/4  3/4  1
    #   APCER  5/5  4/5  4/5  3/5  3/5  2/5  1/5  1/5  0    0
    c = m.curve(SCORES, LIVE)
    assert c.thresholds[:9] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert c.thresholds[9] > 0.9
    assert c.bpcer == pytest.approx([0, 0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 1])
    assert c.apcer == pytest.approx([1, 0.8, 0.8, 0.6, 0.6, 0.4, 0.2, 0.2, 0, 0])


def test_eer_is_the_mean_where_the_rates_are_closest() -> None:
    # From the curve table, |APCER - BPCER| is smallest (.1) at two thresholds:
    #   t=.5: gap .1, mean .55; t=.6: gap .1, mean .45. Lowest threshold wins ties -> t=.5, EER=.55.
    value, threshold = m.eer(SCORES, LIVE)
    assert threshold == pytest.approx(0.5)
    assert value == pytest.approx(0.55)


def test_eer_of_separable_scores_is_zero() -> None:
    # live {.6,.9}, attack {.1,.2}: at t=.6 APCER 0, BPCER 0.
    value, threshold = m.eer([0.1, 0.2, 0.6, 0.9], [0, 0, 1, 1])
    assert value == 0.0
    assert threshold == pytest.approx(0.6)


def test_eer_with_all_scores_tied_is_one_half() -> None:
    # Every score 0.5: t=.5 gives APCER 1, BPCER 0; t just above gives APCER 0, BPCER 1. Gap 1 at both;
    # lowest threshold -> mean (1 + 0)/2 = 0.5.
    value, threshold = m.eer([0.5] * 4, [1, 0, 1, 0])
    assert value == pytest.approx(0.5)
    assert threshold == pytest.approx(0.5)


def test_auc_counts_pairs_and_half_ties() -> None:
    # live .9 beats all 5 attacks (5); .7 beats .3 .1 .6 .5 (4); .4 beats .3 .1 (2); .2 beats .1 (1)
    # wins = 12 out of 4*5 = 20 -> AUC 0.6
    assert m.auc(SCORES, LIVE) == pytest.approx(0.6)
    # ties: live {.5,.5}, attack {.5,.2}: pairs (.5,.5)=1/2 twice, (.5,.2)=1 twice -> 3/4
    assert m.auc([0.5, 0.5, 0.5, 0.2], [1, 1, 0, 0]) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("target", "bpcer", "threshold"),
    [
        # APCER <= 0: first threshold with APCER 0 is .9 -> BPCER 3/4
        (0.0, 0.75, 0.9),
        # APCER <= .01 and .05: same as 0 (one attack is already 20%)
        (0.01, 0.75, 0.9),
        (0.05, 0.75, 0.9),
        # APCER <= .2: first is t=.7 -> BPCER 2/4
        (0.2, 0.5, 0.7),
        # APCER <= .6: first is t=.4 -> BPCER 1/4
        (0.6, 0.25, 0.4),
        # APCER <= 1: t=.1 accepts everything -> BPCER 0
        (1.0, 0.0, 0.1),
    ],
)
def test_bpcer_at_apcer(target: float, bpcer: float, threshold: float) -> None:
    got_bpcer, got_threshold = m.bpcer_at_apcer(SCORES, LIVE, target)
    assert got_bpcer == pytest.approx(bpcer)
    assert got_threshold == pytest.approx(threshold)


def test_hter_uses_the_dev_eer_threshold_on_test() -> None:
    # dev: live {.6, .8}, attack {.2, .4} -> separable, EER threshold = lowest with gap 0 = .6
    # test at .6: live {.7, .5} -> .5 rejected, BPCER 1/2; attack {.65, .1} -> .65 accepted, APCER 1/2
    # HTER = (1/2 + 1/2) / 2 = 0.5
    r = m.hter([0.6, 0.8, 0.2, 0.4], [1, 1, 0, 0], [0.7, 0.5, 0.65, 0.1], [1, 1, 0, 0])
    assert r.threshold == pytest.approx(0.6)
    assert r.bpcer == pytest.approx(0.5)
    assert r.apcer_pooled == pytest.approx(0.5)
    assert r.hter == pytest.approx(0.5)


def test_decisions_count_uncertain_as_rejection() -> None:
    # decisions LIVE, UNCERTAIN, LIVE | attacks LIVE, UNCERTAIN, SPOOF; UNCERTAIN -> not accepted
    # live accepted 2 of 3 -> BPCER 1/3; print accepted 1 of 2 -> 1/2; replay 0 of 1 -> 0
    decisions = ["LIVE", "UNCERTAIN", "LIVE", "LIVE", "UNCERTAIN", "SPOOF"]
    accepted = [d == "LIVE" for d in decisions]
    r = m.rates_from_decisions(
        accepted, [1, 1, 1, 0, 0, 0], ["none", "none", "none", "print", "print", "replay"]
    )
    assert r.threshold is None
    assert r.bpcer == pytest.approx(1 / 3)
    assert r.apcer_by_species == pytest.approx({"print": 0.5, "replay": 0.0})
    assert r.acer == pytest.approx((0.5 + 1 / 3) / 2)


def test_summary_collects_every_figure() -> None:
    s = m.summarize(SCORES, LIVE, SPECIES)
    assert s.n == 9
    assert s.auc == pytest.approx(0.6)
    assert (s.eer, s.eer_threshold) == pytest.approx((0.55, 0.5))
    assert s.bpcer_at_apcer == pytest.approx({0.01: 0.75, 0.05: 0.75})
    assert s.at_threshold.threshold == pytest.approx(0.5)
    assert s.threshold_source == "own EER"
    given = m.summarize(SCORES, LIVE, SPECIES, threshold=0.65)
    assert given.at_threshold.acer == pytest.approx(5 / 12)
    d = given.to_dict()
    assert d["bpcer_at_apcer"] == pytest.approx({"0.01": 0.75, "0.05": 0.75})
    assert d["at_threshold"]["worst_species"] == "print"


def test_default_species_and_numpy_inputs() -> None:
    r = m.rates_at(np.array([0.9, 0.1, 0.8]), np.array([1, 0, 0]), 0.5)
    assert r.apcer_by_species == {"attack": 0.5}


@pytest.mark.parametrize(
    ("scores", "live", "message"),
    [
        ([0.1, 0.2], [1, 1], "no attack"),
        ([0.1, 0.2], [0, 0], "no bona fide"),
        ([0.1, float("nan")], [1, 0], "NaN"),
        ([0.1, 0.2, 0.3], [1, 0], "same length"),
        ([0.1, 0.2], [1, 2], "booleans"),
    ],
)
def test_degenerate_inputs_raise_clear_errors(scores: list[float], live: list[int], message: str) -> None:
    with pytest.raises(m.MetricsError, match=message):
        m.eer(scores, live)


def test_attack_labelled_bona_fide_species_is_refused() -> None:
    with pytest.raises(m.MetricsError, match="species"):
        m.rates_at([0.1, 0.9], [1, 0], 0.5, ["none", "none"])


def test_apcer_target_out_of_range() -> None:
    with pytest.raises(m.MetricsError, match="apcer_target"):
        m.bpcer_at_apcer(SCORES, LIVE, 1.5)


def test_fold_mean_and_rows_of_held_out_folds() -> None:
    one = m.summarize(
        [0.9, 0.8, 0.2, 0.6], [True, True, False, False], ["none", "none", "print", "print"], 0.5
    )
    two = m.summarize([0.7, 0.3, 0.1], [True, True, False], ["none", "none", "replay"], 0.5)
    folds = [one.to_dict(), two.to_dict()]
    mean = m.fold_mean(folds)
    assert list(mean) == ["acer", "apcer", "bpcer", "auc", "eer"]
    assert mean["apcer"] == pytest.approx((0.5 + 0.0) / 2) and mean["bpcer"] == pytest.approx((0.0 + 0.5) / 2)
    assert mean["auc"] == pytest.approx((one.auc + two.auc) / 2)
    line = m.fold_line("nuaa/s01", folds[0])
    assert line.split() == [
        "nuaa/s01",
        "2",
        "2",
        "50.0%",
        "0.0%",
        "25.0%",
        f"{one.auc:.3f}",
        f"{100 * one.eer:.1f}%",
    ]
    assert m.fold_mean_line(mean).split()[0] == "mean"
    assert m.fold_table_head().split()[:2] == ["held", "out"]
