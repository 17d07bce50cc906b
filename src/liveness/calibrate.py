"""`liveness calibrate`: per-test scores on a dev set -> a calibrated fused probability, weights, thresholds
and an uncertain band, written as a versioned gateway config.

Input, one of:
- `--scores FILE`: a CSV with a `label` column (live/spoof, or 1/0) and one column per test holding its score
  (empty when the test did not answer OK), or the report.json that `liveness eval` writes for the gateway;
- `--data DIR`: a data set scored through a running gateway (`--gateway HOST:PORT`) or a local stack, keeping
  each test's own score.

Method: logistic regression on the tests' logit scores (a test that did not answer is replaced by its dev
mean logit, which is also how the gateway fills it in), isotonic regression of the weighted mean score
with the logistic model's weights, or min: each member test's own calibration map (a logistic regression of
the label on that test's logit score) and the least live of the mapped scores (gateway.fusion). With
`domain`s in the scores, min's members are chosen on them: of every set of tests, the one whose fusion,
fitted without each domain in turn, decides the held-out domains with the lowest mean ACER (sets within
MEMBER_TIE of it: the fewest tests, then the highest worst-domain AUC). Each test's weight is its share of
the logistic model's discriminative power (|coef| x std of its logit score; min: an equal share for each
member); the gateway answers UNCERTAIN when the tests that answered OK hold
less than `min_weight_fraction` of it. Thresholds: `live` is the lowest threshold whose dev APCER is at most
`--max-apcer`; `spoof` the highest whose dev BPCER is at most `--max-bpcer`; the band between them is
UNCERTAIN (when both targets can be met at once the band closes at their midpoint). With `--targets` given
more than once (and domains in the scores), the pair is chosen like the members: the one whose fusion decides
the held-out domains with the lowest mean ACER (ties: the first given); every pair's figures go into the
config's `fusion.fitted.target_grid`.

The numbers are stored as plain YAML (no pickles) and the config's version names the fit.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import yaml

from gateway.config import DEFAULT_CONFIG, parse
from gateway.fusion import Calibration, Thresholds, Vote, fuse, logit
from liveness import iso30107
from liveness.clierrors import click_errors
from liveness.errors import InvalidInput, Unavailable
from liveness.types import Decision, Status

LIVE_LABELS = {"live", "1", "bona_fide", "bonafide", "real"}
SPOOF_LABELS = {"spoof", "0", "attack", "fake"}


@dataclass(frozen=True, slots=True)
class Row:
    """One dev sample: its label and the scores of the tests that answered OK."""

    live: bool
    scores: Mapping[str, float]
    group: str = ""  # the row's domain (session, source), from a `domain` column: for held-out figures


@dataclass(frozen=True, slots=True)
class Fit:
    """What calibration produced."""

    calibration: Calibration
    weights: dict[str, float]
    thresholds: Thresholds
    metrics: dict[str, Any]


def _label(raw: Any, where: str) -> bool:
    text = str(raw).strip().lower()
    if text in LIVE_LABELS:
        return True
    if text in SPOOF_LABELS:
        return False
    raise InvalidInput(f"{where}: label {raw!r} is neither live nor spoof")


def read_scores(path: Path) -> list[Row]:
    """Rows from a scores CSV or a `liveness eval` gateway report.json."""
    if path.suffix.lower() == ".json":
        report = json.loads(path.read_text())
        rows = []
        for i, sample in enumerate(report.get("samples", [])):
            tests = sample.get("tests") or {}
            scores = {n: float(t["score"]) for n, t in tests.items() if t.get("status") == "ok"}
            rows.append(Row(_label(sample["label"], f"{path.name} sample {i}"), scores))
        return rows
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if "label" not in (reader.fieldnames or ()):
            raise InvalidInput(f"{path.name}: needs a label column")
        tests = [
            c
            for c in reader.fieldnames or ()
            if c not in ("label", "path", "attack", "subject", "split", "domain")
        ]
        rows = []
        for i, raw in enumerate(reader, start=2):
            scores = {}
            for name in tests:
                value = (raw.get(name) or "").strip()
                if value:
                    try:
                        score = float(value)
                    except ValueError:
                        score = float("nan")
                    if not 0.0 <= score <= 1.0:
                        raise InvalidInput(f"{path.name} line {i}: {name} score {value} is not in [0, 1]")
                    scores[name] = score
            rows.append(
                Row(_label(raw["label"], f"{path.name} line {i}"), scores, (raw.get("domain") or "").strip())
            )
        return rows


def _design(rows: Sequence[Row], tests: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Logit features with missing scores replaced by each test's mean logit; labels; those means."""
    means = {}
    for name in tests:
        present = [logit(r.scores[name]) for r in rows if name in r.scores]
        means[name] = float(np.mean(present))
    x = np.array([[logit(r.scores[n]) if n in r.scores else means[n] for n in tests] for r in rows])
    y = np.array([r.live for r in rows], dtype=bool)
    return x, y, means


def fit_logistic(
    rows: Sequence[Row], tests: Sequence[str], c: float = 1.0
) -> tuple[Calibration, dict[str, float]]:
    """Logistic calibration and the per-test weights (shares of |coef| x std, summing to 1).

    A test whose coefficient comes out zero or negative (a higher P(live) from it would mean *less* live)
    earns no weight: it is dropped and the rest refitted, until every kept coefficient is positive. A
    negative weight would reward whatever quirk separated this dev set the wrong way round, which a new
    camera does not share; weight 0 says the test did not earn a say here.
    """
    from sklearn.linear_model import LogisticRegression

    kept = list(tests)
    while True:
        x, y, means = _design(rows, kept)
        model = LogisticRegression(C=c, max_iter=1000).fit(x, y)
        coefs = {n: float(w) for n, w in zip(kept, model.coef_[0], strict=True)}
        losing = [n for n in kept if coefs[n] <= 0]
        if not losing or len(losing) == len(kept):
            break
        kept = [n for n in kept if n not in losing]
    power = {n: max(coefs[n], 0.0) * float(x[:, j].std()) for j, n in enumerate(kept)}
    total = sum(power.values())
    weights = {n: (p / total if total > 0 else 1.0 / len(kept)) for n, p in power.items()}
    weights.update({n: 0.0 for n in tests if n not in kept})
    return Calibration("logistic", float(model.intercept_[0]), coefs, means), weights


def fit_min(rows: Sequence[Row], tests: Sequence[str]) -> tuple[Calibration, dict[str, float]]:
    """Each test's calibration map, P(live) = sigmoid(coef x logit(score) + offset), fitted on the rows it
    answered; the members share the weight equally. A test whose map does not rise with its score (or that
    answered only one class) earns no weight, as in `fit_logistic`."""
    from sklearn.linear_model import LogisticRegression

    coefs, offsets = {}, {}
    for name in tests:
        present = [r for r in rows if name in r.scores]
        y = np.array([r.live for r in present], dtype=bool)
        if y.all() or not y.any():
            continue
        x = np.array([[logit(r.scores[name])] for r in present])
        model = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
        if model.coef_[0, 0] > 0:
            coefs[name] = float(model.coef_[0, 0])
            offsets[name] = float(model.intercept_[0])
    if not coefs:
        raise InvalidInput("no test's score rises with liveness on the dev set")
    weights = {n: (1.0 / len(coefs) if n in coefs else 0.0) for n in tests}
    return Calibration("min", coefs=coefs, offsets=offsets), weights


MEMBER_TIE = 0.005
"""Member sets whose held-out mean ACER is within this of the best count as equally good
(`select_members`)."""


def select_members(
    rows: Sequence[Row], tests: Sequence[str], max_apcer: float, max_bpcer: float, min_weight_fraction: float
) -> tuple[list[str], list[dict[str, Any]]]:
    """The tests the min rule fuses, chosen on held-out domains (the module doc), and every candidate set's
    figures. Without two domains: every test with scores."""
    usable = [n for n in tests if any(n in r.scores for r in rows)]
    if len({r.group for r in rows if r.group}) < 2:
        return usable, []
    table: list[dict[str, Any]] = []
    for k in range(1, len(usable) + 1):
        for members in itertools.combinations(usable, k):
            try:
                held = held_out_groups(rows, list(members), "min", max_apcer, max_bpcer, min_weight_fraction)
            except InvalidInput as exc:  # e.g. no member's score rises with liveness in some fold
                table.append(
                    {"tests": list(members), "mean_acer": None, "worst_auc": None, "refused": str(exc)}
                )
                continue
            aucs = [m["auc"] for g, m in held.items() if g != "mean" and m.get("auc") is not None]
            table.append(
                {
                    "tests": list(members),
                    "mean_acer": held["mean"]["acer"],
                    "worst_auc": min(aucs) if aucs else None,
                }
            )
    scored = [t for t in table if t["mean_acer"] is not None]
    if not scored:
        return usable, table
    best = min(t["mean_acer"] for t in scored)
    near = [t for t in scored if t["mean_acer"] <= best + MEMBER_TIE]
    chosen = min(near, key=lambda t: (len(t["tests"]), -(t["worst_auc"] or 0.0)))
    return list(chosen["tests"]), table


def choose_targets(
    rows: Sequence[Row],
    tests: Sequence[str],
    method: str,
    pairs: Sequence[tuple[float, float]],
    min_weight_fraction: float,
) -> tuple[tuple[float, float], list[dict[str, Any]], tuple[list[str], list[dict[str, Any]]]]:
    """The (max APCER, max BPCER) pair of `pairs` whose fusion decides the held-out domains with the lowest
    mean ACER, the first of equals; every pair's figures (none with one pair or without two domains); and
    that pair's members with min's table of member sets (`select_members`; the other methods fuse every
    test and have no table)."""

    def members_for(pair: tuple[float, float]) -> tuple[list[str], list[dict[str, Any]]]:
        if method != "min":
            return list(tests), []
        return select_members(rows, tests, pair[0], pair[1], min_weight_fraction)

    if len(pairs) == 1 or len({r.group for r in rows if r.group}) < 2:
        return pairs[0], [], members_for(pairs[0])
    table: list[dict[str, Any]] = []
    choices = []
    for pair in pairs:
        members, sets = members_for(pair)
        figures = next((t for t in sets if t["tests"] == members), None)  # min measured them already
        if figures is None:
            held = held_out_groups(rows, members, method, pair[0], pair[1], min_weight_fraction)
            aucs = [m["auc"] for g, m in held.items() if g != "mean" and m.get("auc") is not None]
            figures = {"mean_acer": held["mean"]["acer"], "worst_auc": min(aucs) if aucs else None}
        table.append(
            {
                "max_apcer": pair[0],
                "max_bpcer": pair[1],
                "tests": list(members),
                "mean_acer": figures["mean_acer"],
                "worst_auc": figures["worst_auc"],
            }
        )
        choices.append((members, sets))
    scored = [k for k, t in enumerate(table) if t["mean_acer"] is not None]
    best = min(scored, key=lambda k: table[k]["mean_acer"]) if scored else 0  # min keeps the first of equals
    return pairs[best], table, choices[best]


def _target_pair(text: str) -> tuple[float, float]:
    """ "0.02/0.03" -> (0.02, 0.03), each in [0, 1]."""
    try:
        apcer, bpcer = (float(v) for v in text.split("/"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected MAX_APCER/MAX_BPCER, e.g. 0.02/0.03") from None
    if not (0.0 <= apcer <= 1.0 and 0.0 <= bpcer <= 1.0):
        raise click.BadParameter(f"{text!r}: both rates must be in [0, 1]")
    return apcer, bpcer


def fit_isotonic(rows: Sequence[Row], weights: Mapping[str, float]) -> Calibration:
    """Isotonic calibration of the weighted mean score (over the tests each row has), as knots."""
    from sklearn.isotonic import IsotonicRegression

    mean = []
    for r in rows:
        w = {n: weights[n] for n in r.scores if weights.get(n, 0) > 0}
        mean.append(sum(w[n] * r.scores[n] for n in w) / sum(w.values()) if w else 0.5)
    x = np.array(mean)
    y = np.array([r.live for r in rows], dtype=float)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    knots_x = [float(v) for v in iso.X_thresholds_]
    knots_y = [float(v) for v in iso.y_thresholds_]
    if len(knots_x) < 2:  # every score equal: a flat map over [0, 1]
        knots_x, knots_y = [0.0, 1.0], [knots_y[0], knots_y[0]]
    return Calibration("isotonic", knots_x=tuple(knots_x), knots_y=tuple(knots_y))


def choose_thresholds(
    probs: np.ndarray, live: np.ndarray, max_apcer: float, max_bpcer: float, min_weight_fraction: float
) -> Thresholds:
    """Lowest live threshold meeting the APCER target, highest spoof threshold meeting the BPCER target."""
    c = iso30107.curve(probs, live)
    live_ok = np.flatnonzero(c.apcer <= max_apcer + 1e-12)
    spoof_ok = np.flatnonzero(c.bpcer <= max_bpcer + 1e-12)
    t_live = float(min(c.thresholds[live_ok[0]], 1.0))
    t_spoof = float(min(c.thresholds[spoof_ok[-1]], 1.0))
    if t_spoof >= t_live:  # both targets hold between them: no band needed
        mid = round((t_live + t_spoof) / 2.0, 6)
        return Thresholds(live=mid, spoof=mid, min_weight_fraction=min_weight_fraction)
    return Thresholds(live=round(t_live, 6), spoof=round(t_spoof, 6), min_weight_fraction=min_weight_fraction)


def _fuse_rows(
    rows: Sequence[Row], calibration: Calibration, weights: Mapping[str, float], thresholds: Thresholds
) -> tuple[np.ndarray, np.ndarray]:
    """Each row through the gateway's own `fuse` (a test without a score counts as failed): the fused
    scores and the decisions' names."""
    probs, decisions = [], []
    for r in rows:
        votes = [
            Vote(n, w, Status.OK if n in r.scores else Status.ERROR, r.scores.get(n, 0.0))
            for n, w in weights.items()
        ]
        out = fuse(votes, thresholds, calibration)
        probs.append(out.score)
        decisions.append(out.decision.name)
    return np.array(probs), np.array(decisions)


def dev_metrics(
    rows: Sequence[Row],
    calibration: Calibration,
    weights: Mapping[str, float],
    thresholds: Thresholds,
) -> dict[str, Any]:
    """The fused answers on the dev rows, through the gateway's own `fuse`: UNCERTAIN counts as a rejection
    (as in `liveness eval`), so APCER is attacks called LIVE and BPCER is live people not called LIVE."""
    p, dec = _fuse_rows(rows, calibration, weights, thresholds)
    live = np.array([r.live for r in rows], dtype=bool)
    eer, eer_t = iso30107.eer(p, live)
    return {
        "samples": len(rows),
        "live": int(live.sum()),
        "spoof": int((~live).sum()),
        "auc": round(iso30107.auc(p, live), 4),
        "eer": round(eer, 4),
        "eer_threshold": round(eer_t, 4),
        "apcer": round(float(np.mean(dec[~live] == Decision.LIVE.name)), 4),
        "bpcer": round(float(np.mean(dec[live] != Decision.LIVE.name)), 4),
        "uncertain_rate": round(float(np.mean(dec == Decision.UNCERTAIN.name)), 4),
        "brier": round(float(np.mean((p - live) ** 2)), 4),
    }


def cross_validated_auc(rows: Sequence[Row], tests: Sequence[str], folds: int, seed: int) -> float | None:
    """AUC of the logistic calibration on held-out folds (the in-sample figures flatter it)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([r.live for r in rows])
    if min(labels.sum(), (~labels).sum()) < folds:
        return None
    probs = np.zeros(len(rows))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        np.zeros(len(rows)), labels
    ):
        cal, _ = fit_logistic([rows[i] for i in train], tests)
        for i in held:
            z = cal.bias + sum(
                cal.coefs[n] * (logit(rows[i].scores[n]) if n in rows[i].scores else cal.mean_logits[n])
                for n in cal.coefs
            )
            probs[i] = 1.0 / (1.0 + math.exp(-z))
    return round(iso30107.auc(probs, labels), 4)


def calibrate(
    rows: Sequence[Row],
    tests: Sequence[str],
    method: str,
    max_apcer: float,
    max_bpcer: float,
    min_weight_fraction: float,
) -> Fit:
    """Fit the calibration, weights and thresholds on `rows`, and measure them there."""
    usable = [n for n in tests if any(n in r.scores for r in rows)]
    if not usable:
        raise InvalidInput(f"no scores for any of the tests {list(tests)}")
    labels = np.array([r.live for r in rows], dtype=bool)
    if labels.all() or not labels.any():
        raise InvalidInput("the dev set needs both live and spoof samples")
    if method == "min":
        calibration, weights = fit_min(rows, usable)
    else:
        calibration, weights = fit_logistic(rows, usable)
    if method == "isotonic":
        calibration = fit_isotonic(rows, weights)
    weights = {n: weights.get(n, 0.0) for n in tests}
    band = Thresholds(live=0.5, spoof=0.5, min_weight_fraction=min_weight_fraction)
    probe = [
        fuse(
            [Vote(n, w, Status.OK, r.scores[n]) for n, w in weights.items() if n in r.scores],
            band,
            calibration,
        ).score
        for r in rows
    ]
    thresholds = choose_thresholds(np.array(probe), labels, max_apcer, max_bpcer, min_weight_fraction)
    return Fit(calibration, weights, thresholds, dev_metrics(rows, calibration, weights, thresholds))


def held_out_groups(
    rows: Sequence[Row],
    tests: Sequence[str],
    method: str,
    max_apcer: float,
    max_bpcer: float,
    min_weight_fraction: float,
    intervals: bool = False,
) -> dict[str, Any]:
    """The fused decision on each domain by a fusion fitted without it (leave one domain out): weights,
    calibration and thresholds all come from the other domains, so these are figures on an unseen domain.
    With `intervals`, each domain's ACER and AUC also get their 95 % intervals (iso30107.intervals).
    Empty when the rows carry fewer than two domains."""
    groups = sorted({r.group for r in rows if r.group})
    if len(groups) < 2:
        return {}
    out: dict[str, Any] = {}
    for group in groups:
        train = [r for r in rows if r.group != group]
        held = [r for r in rows if r.group == group]
        labels = {r.live for r in train}
        if len(labels) < 2:
            continue
        fit = calibrate(train, tests, method, max_apcer, max_bpcer, min_weight_fraction)
        out[group] = _decisions(held, fit, intervals)
    acers = [m["acer"] for m in out.values() if m.get("acer") is not None]
    aucs = [m["auc"] for m in out.values() if m.get("auc") is not None]
    out["mean"] = {
        "acer": round(float(np.mean(acers)), 4) if acers else None,
        "auc": round(float(np.mean(aucs)), 4) if aucs else None,
        "domains_with_both_classes": len(acers),
    }
    return out


def _decisions(rows: Sequence[Row], fit: Fit, intervals: bool = False) -> dict[str, Any]:
    """APCER, BPCER, ACER (UNCERTAIN counts as a rejection) and AUC of `fit` on rows of one domain, with
    the 95 % intervals of ACER and AUC when asked; the rates a domain cannot have (no attacks, or no live
    faces) are None."""
    probs, decisions = _fuse_rows(rows, fit.calibration, fit.weights, fit.thresholds)
    live = np.array([r.live for r in rows], dtype=bool)
    acc = decisions == Decision.LIVE.name
    apcer = round(float(acc[~live].mean()), 4) if (~live).any() else None
    bpcer = round(float((~acc[live]).mean()), 4) if live.any() else None
    both = apcer is not None and bpcer is not None
    out: dict[str, Any] = {
        "live": int(live.sum()),
        "spoof": int((~live).sum()),
        "apcer": apcer,
        "bpcer": bpcer,
        "acer": round((apcer + bpcer) / 2.0, 4) if both else None,  # type: ignore[operator]
        "auc": round(iso30107.auc(probs, live), 4) if both else None,
    }
    if intervals and both:
        ci = iso30107.intervals(live, scores=probs, accepted=acc)
        for key, pair in (("acer_ci", ci.acer), ("auc_ci", ci.auc)):
            out[key] = None if pair is None else [round(pair[0], 4), round(pair[1], 4)]
    return out


def fusion_section(fit: Fit) -> dict[str, Any]:
    cal = fit.calibration
    section: dict[str, Any] = {"method": cal.method}
    if cal.method == "logistic":
        section["bias"] = round(cal.bias, 6)
        section["tests"] = {
            n: {"coef": round(cal.coefs[n], 6), "mean_logit": round(cal.mean_logits[n], 6)} for n in cal.coefs
        }
    elif cal.method == "min":
        section["tests"] = {
            n: {"coef": round(cal.coefs[n], 6), "offset": round(cal.offsets[n], 6)} for n in cal.coefs
        }
    else:
        section["isotonic"] = {
            "x": [round(v, 6) for v in cal.knots_x],
            "y": [round(v, 6) for v in cal.knots_y],
        }
    return section


def write_config(
    base: Mapping[str, Any], fit: Fit, fitted: Mapping[str, Any], out: Path, notes: Sequence[str] = ()
) -> str:
    """The base config with the fitted weights, thresholds and fusion; returns the new version string."""
    data = dict(base)
    fusion = fusion_section(fit)
    digest = hashlib.sha256(
        json.dumps([fusion, fit.weights, fit.thresholds.live, fit.thresholds.spoof], sort_keys=True).encode()
    ).hexdigest()[:8]
    base_version = str(base.get("version", "0")).split("+cal.")[0]  # a refit replaces the last fit's tag
    version = f"{base_version}+cal.{digest}"
    data["version"] = version
    data["thresholds"] = {
        "live": fit.thresholds.live,
        "spoof": fit.thresholds.spoof,
        "min_weight_fraction": fit.thresholds.min_weight_fraction,
    }
    tests = {name: dict(spec) for name, spec in (base.get("tests") or {}).items()}
    for name, weight in fit.weights.items():
        tests[name]["weight"] = round(weight, 4)
    data["tests"] = tests
    data["fusion"] = {**fusion, "fitted": dict(fitted)}
    parse(data)  # what the gateway will load must load
    header = (
        f"# Gateway config {version}, written by `liveness calibrate` from {fitted.get('source')}:\n"
        f"#   {fitted.get('command', 'liveness calibrate')}\n"
        "# Research-grade when fitted on research data sets: refit on licensed data from the deployment's\n"
        "# own cameras.\n" + "".join(f"# {line}\n" for line in notes)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return version


def _score_data(
    data: Path,
    gateway: str | None,
    splits: Sequence[str],
    limit: int | None,
    seed: int,
    frames: int,
    concurrency: int,
    timeout_s: float,
) -> list[Row]:
    import asyncio

    from liveness.client import GatewayClient
    from liveness.data.samples import open_dataset
    from liveness.scoring import gateway_scorer, score_all, select

    samples = select(list(open_dataset(data, list(splits) or None)), limit, seed)
    if not samples:
        raise InvalidInput(f"{data}: no samples")

    async def run(address: str) -> list[Row]:
        async with GatewayClient(address) as client:
            outcomes = await score_all(samples, gateway_scorer(client, frames, timeout_s), concurrency)
        return [
            Row(o.sample.is_live, {n: t["score"] for n, t in o.tests.items() if t["status"] == "ok"})
            for o in outcomes
            if o.tests
        ]

    if gateway:
        return asyncio.run(run(gateway))
    from liveness.stack import LocalStack

    try:
        with LocalStack() as stack:
            return asyncio.run(run(stack.gateway_address))
    except (RuntimeError, TimeoutError) as exc:
        raise Unavailable(f"local stack: {exc}") from None


@click.command()
@click.option(
    "--scores",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Per-test scores: a CSV (label + one column per test) or a `liveness eval` report.json.",
)
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A dev data set to score through the gateway instead of --scores.",
)
@click.option(
    "--gateway", default=None, help="With --data: HOST:PORT of a running gateway (default: a local stack)."
)
@click.option(
    "--split",
    "splits",
    multiple=True,
    help="With --data: only these splits, e.g. devel (repeatable; default: every sample).",
)
@click.option("--limit", type=int, default=None, help="With --data: at most N samples (drawn with --seed).")
@click.option("--frames", type=int, default=16, show_default=True, help="With --data: frames per video.")
@click.option("--concurrency", type=int, default=2, show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=60.0, show_default=True)
@click.option(
    "--base",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Gateway config to start from (default: GATEWAY_CONFIG or the packaged one).",
)
@click.option(
    "--method", type=click.Choice(["logistic", "isotonic", "min"]), default="logistic", show_default=True
)
@click.option(
    "--max-apcer",
    type=float,
    default=0.05,
    show_default=True,
    help="APCER allowed at the live threshold on the dev set.",
)
@click.option(
    "--max-bpcer",
    type=float,
    default=0.05,
    show_default=True,
    help="BPCER allowed at the spoof threshold on the dev set.",
)
@click.option(
    "--targets",
    "target_grid",
    multiple=True,
    help="MAX_APCER/MAX_BPCER pairs to choose from (repeatable, e.g. --targets 0.02/0.03): with domains in "
    "the scores, the pair whose fusion decides the held-out domains with the lowest mean ACER (the first "
    "of equals). Replaces --max-apcer and --max-bpcer.",
)
@click.option(
    "--min-weight-fraction",
    type=float,
    default=None,
    help="UNCERTAIN below this share of the applicable weight (default: the base config's).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--note",
    "notes",
    multiple=True,
    help="A line for the config's header, e.g. how the scores were made (repeatable).",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Config to write."
)
@click_errors()
def cli(
    scores: Path | None,
    data: Path | None,
    gateway: str | None,
    splits: tuple[str, ...],
    limit: int | None,
    frames: int,
    concurrency: int,
    timeout_s: float,
    base: Path | None,
    method: str,
    max_apcer: float,
    max_bpcer: float,
    target_grid: tuple[str, ...],
    min_weight_fraction: float | None,
    seed: int,
    notes: tuple[str, ...],
    out: Path,
) -> None:
    """Fit fusion weights, a calibrated probability, thresholds and an uncertain band on dev scores."""
    import os

    if (scores is None) == (data is None):
        raise click.UsageError("give exactly one of --scores or --data")
    for name, value in (("--max-apcer", max_apcer), ("--max-bpcer", max_bpcer)):
        if not 0.0 <= value <= 1.0:
            raise click.BadParameter(f"{name} must be in [0, 1]")
    pairs = [_target_pair(t) for t in target_grid] or [(max_apcer, max_bpcer)]
    base_path = base or Path(os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG)
    base_data = yaml.safe_load(base_path.read_text()) or {}
    base_config = parse(base_data)
    tests = [t.name for t in base_config.tests]
    if scores is not None:
        rows, source = read_scores(scores), scores.name
    else:
        assert data is not None
        if not gateway:
            click.echo("starting a local stack", err=True)
        rows = _score_data(data, gateway, splits, limit, seed, frames, concurrency, timeout_s)
        source = f"{data.name} ({', '.join(splits) or 'all splits'})"
    seen = sorted({n for r in rows for n in r.scores})
    unknown = [n for n in seen if n not in tests]
    if not tests:
        raise click.UsageError(f"{base_path.name} lists no tests; add them (with addresses) first")
    if unknown:
        click.echo(f"ignoring scores of tests not in {base_path.name}: {unknown}", err=True)
    fraction = (
        base_config.thresholds.min_weight_fraction if min_weight_fraction is None else min_weight_fraction
    )
    (max_apcer, max_bpcer), grid, (members, candidates) = choose_targets(rows, tests, method, pairs, fraction)
    fit = calibrate(rows, members, method, max_apcer, max_bpcer, fraction)
    fit = replace(fit, weights={n: fit.weights.get(n, 0.0) for n in tests})
    cv_auc = (
        cross_validated_auc(rows, [n for n in tests if n in seen], 5, seed) if method == "logistic" else None
    )
    fitted = {
        "source": source,
        "method": method,
        "max_apcer": max_apcer,
        "max_bpcer": max_bpcer,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dev": {**fit.metrics, "cv5_auc": cv_auc},
        **({"target_grid": grid} if grid else {}),
        **({"member_sets": candidates} if candidates else {}),
        "held_out_domains": held_out_groups(
            rows, members, method, max_apcer, max_bpcer, fraction, intervals=True
        ),
        "command": " ".join(
            ["liveness calibrate"]
            + ([f"--scores {scores}"] if scores is not None else [f"--data {data}"])
            + [f"--base {base}"] * (base is not None)
            + [f"--method {method}"]
            + (
                [f"--targets {t}" for t in target_grid]
                if target_grid
                else [f"--max-apcer {max_apcer}", f"--max-bpcer {max_bpcer}"]
            )
            + [f"--out {out}"]
        ),
    }
    version = write_config(base_data, fit, fitted, out, notes)
    summary = {
        "version": version,
        "thresholds": {"live": fit.thresholds.live, "spoof": fit.thresholds.spoof},
        "weights": {n: round(w, 4) for n, w in fit.weights.items()},
        "dev": fitted["dev"],
        "held_out_domains": fitted["held_out_domains"],
    }
    click.echo(json.dumps(summary, indent=2))
    click.echo(f"wrote {out} (version {version})", err=True)
