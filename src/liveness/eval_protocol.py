"""`liveness eval --protocol P`: a validation protocol of liveness.data.protocols, scored through the served
models, with ISO/IEC 30107-3 figures per fold and their mean.

Every sample of the data sets under the data root is tagged with its domain (`tagged_samples`); each fold of
the protocol names the samples it holds out. The held-out samples of all folds are scored once, through the
same scorers and decision rules as `liveness eval` (liveness.scoring: gateway, accepted only when LIVE; one
test, accepted when OK and score >= threshold), and every fold gets the report `build_report`
(liveness.eval_report) makes of its own outcomes. The summary table has one row per fold (held-out
domain, live and attack counts per species, APCER per species, BPCER, ACER, AUC, EER) and the mean of the
folds. Library code: errors are liveness.errors; `liveness eval` (liveness.evaluate) is the command.

Scoring does not train: the figures are those of whatever models are served. They are protocol figures only
when those models were fitted without the fold's held-out domain (`liveness train texture --hold-out
nuaa/s01`, served with TEXTURE_MODEL_PATH, then `--fold nuaa/s01`); the report says so.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveness import iso30107
from liveness.data.protocols import Tagged, folds, tagged_samples
from liveness.errors import InvalidInput
from liveness.eval_report import (
    RESEARCH_NOTE,
    build_report,
    ci_text,
    decision_rule,
    render_markdown,
    sample_rows,
    write_plots,
)
from liveness.scoring import Outcome, run_scoring, select

SERVED_MODELS_NOTE = (
    "These are the figures of the models that were served. A fold's row is a protocol figure only when "
    "every served model was fitted without that fold's held-out domain (and, for cross-session-subject, "
    "without its people); the shipped models were fitted on all of the shared data, so their rows are "
    "figures on data they have seen. To score a fold honestly, train its model with the held-out domain "
    "left out (e.g. `liveness train texture --hold-out nuaa/s01`), serve it through the test's "
    "<TEST>_MODEL_PATH (TEXTURE_MODEL_PATH=...), and run that fold alone with --fold."
)


@dataclass(frozen=True, slots=True)
class FoldPlan:
    """One fold: its name, the samples it tests on, and the domains on either side."""

    name: str
    test: list[Tagged]
    test_domains: list[str]
    train_domains: list[str]

    @property
    def slug(self) -> str:
        return self.name.replace("/", "-")


def plan(
    protocol: str,
    tagged: Sequence[Tagged],
    fold_names: Sequence[str] = (),
    limit: int | None = None,
    seed: int = 0,
) -> list[FoldPlan]:
    """The folds of `protocol` over `tagged` (only `fold_names` when given), each test side cut to at most
    `limit` samples (label-stratified, seeded). InvalidInput names what is wrong."""
    domains = np.asarray([t.domain for t in tagged], dtype=str)
    out: list[FoldPlan] = []
    for fold in folds(protocol, domains, [t.subject for t in tagged]):
        test = [tagged[int(i)] for i in np.flatnonzero(fold.test)]
        by_path = {t.sample.path: t for t in test}
        chosen = [by_path[s.path] for s in select([t.sample for t in test], limit, seed)]
        out.append(
            FoldPlan(
                name=fold.name,
                test=chosen,
                test_domains=sorted(set(domains[fold.test].tolist())),
                train_domains=sorted(set(domains[fold.train].tolist())),
            )
        )
    if fold_names:
        known = [p.name for p in out]
        unknown = [n for n in fold_names if n not in known]
        if unknown:
            raise InvalidInput(
                f"--fold {', '.join(unknown)}: not a fold of {protocol} here ({', '.join(known)})"
            )
        out = [p for p in out if p.name in fold_names]
    return out


def fold_row(name: str, report: dict[str, Any]) -> dict[str, Any]:
    """A fold's summary row from its `build_report`: counts, decision rates and score figures (None where
    the fold cannot give them, e.g. no attack scored)."""
    counts = report["counts"]
    decisions, scores = report["decisions"], report["scores"]
    ok_d, ok_s = "error" not in decisions, "error" not in scores
    return {
        "fold": name,
        "live": int(counts["by_label"].get("live", 0)),
        "attacks": {k: int(v) for k, v in sorted(counts["by_attack"].items()) if k != "none"},
        "errors": int(counts["by_status"].get("error", 0)),
        "scored": int(scores["n_scored"]),
        "apcer_by_species": dict(decisions["apcer_by_species"]) if ok_d else {},
        "bpcer": decisions["bpcer"] if ok_d else None,
        "acer": decisions["acer"] if ok_d else None,
        "acer_ci": decisions.get("ci", {}).get("acer") if ok_d else None,
        "auc": scores["auc"] if ok_s else None,
        "auc_ci": scores.get("intervals", {}).get("auc") if ok_s else None,
        "eer": scores["eer"] if ok_s else None,
    }


FIGURES = ("bpcer", "acer", "auc", "eer")


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def mean_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts summed over the folds; every rate the mean over the folds that have it."""
    attacks: Counter[str] = Counter()
    for r in rows:
        attacks.update(r["attacks"])
    species = sorted({sp for r in rows for sp in r["apcer_by_species"]})
    return {
        "fold": "mean",
        "n_folds": len(rows),
        "live": sum(r["live"] for r in rows),
        "attacks": dict(sorted(attacks.items())),
        "errors": sum(r["errors"] for r in rows),
        "scored": sum(r["scored"] for r in rows),
        "apcer_by_species": {sp: _mean([r["apcer_by_species"].get(sp) for r in rows]) for sp in species},
        **{k: _mean([r[k] for r in rows]) for k in FIGURES},
        "folds_with": {
            **{f"apcer {sp}": sum(sp in r["apcer_by_species"] for r in rows) for sp in species},
            **{k: sum(r[k] is not None for r in rows) for k in FIGURES},
        },
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.2f}%"


def table(rows: Sequence[dict[str, Any]], mean: dict[str, Any]) -> list[str]:
    """The summary as markdown lines: one row per fold, then the mean."""
    species = sorted({sp for r in [*rows, mean] for sp in r["attacks"]})
    head = ["held out", "live", *species, *(f"APCER {sp}" for sp in species), "BPCER", "ACER", "AUC", "EER"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    n = mean["n_folds"]
    for r in [*rows, mean]:
        cells = [
            f"**mean of {n}**" if r is mean else r["fold"],
            str(r["live"]),
            *(str(r["attacks"].get(sp, 0)) for sp in species),
            *(_cell(r, f"apcer {sp}", _pct(r["apcer_by_species"].get(sp)), n) for sp in species),
            _cell(r, "bpcer", _pct(r["bpcer"]), n),
            _cell(r, "acer", _pct(r["acer"]) + ci_text(r.get("acer_ci")), n),
            _cell(
                r,
                "auc",
                "n/a" if r["auc"] is None else f"{r['auc']:.4f}" + ci_text(r.get("auc_ci"), auc=True),
                n,
            ),
            _cell(r, "eer", _pct(r["eer"]), n),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _cell(row: dict[str, Any], key: str, text: str, n_folds: int) -> str:
    """A figure as shown; on the mean row, over how many folds it is averaged when some folds lack it."""
    k = row.get("folds_with", {}).get(key, n_folds)
    return f"{text} ({k} of {n_folds})" if 0 < k < n_folds else text


def render(report: dict[str, Any]) -> str:
    """report.md: what was run, the summary table, then a section per fold."""
    target, config = report["target"], report["config"]
    rule = decision_rule(target["kind"], report["threshold"])
    lines = [
        f"# Protocol {report['protocol']}: {target.get('name') or target['kind']} on {config['data_name']}",
        "",
        f"- target: {target['kind']} `{target.get('name', '')}` {target.get('version', '')}".rstrip(),
        f"- data sets: {', '.join(config['datasets'])}; {config['samples']} samples, "
        f"{config['scored_samples']} held out by the folds run and scored once",
        f"- decision rule: {rule}; APCER/BPCER/ACER from decisions, AUC/EER from the "
        f"{'conclusive fused' if target['kind'] == 'gateway' else 'OK'} scores",
        f"- frames per video: {config['frames']}, limit per fold: {config['limit']}, seed: {config['seed']}",
        f"- elapsed: {config['elapsed_s']:.1f} s at concurrency {config['concurrency']}",
        "",
        f"> {SERVED_MODELS_NOTE}",
        "",
        "## Summary",
        "",
        *table([f["row"] for f in report["folds"]], report["mean"]),
        "",
        "ACER = (worst species' APCER + BPCER) / 2 per fold; the mean row averages each figure over the "
        "folds that have it ('k of n' where some do not: no attack of a species, no live face, or no "
        "conclusive score of one class). In brackets, a fold's 95 % interval (percentile bootstrap, live and "
        "attack presentations resampled separately, as if independent: frames of one person are not, so "
        "the real uncertainty is wider).",
        "",
    ]
    for f in report["folds"]:
        fr = f["report"]
        counts = fr["counts"]
        trained = ", ".join(f["train_domains"]) or "nothing"
        lines += [
            f"## Fold {f['fold']}",
            "",
            f"- held out: {', '.join(f['test_domains'])}",
            f"- models must be fitted on no more than (for a protocol figure): {trained}",
            f"- samples: {counts['samples']} {counts['by_label']}, attacks {counts['by_attack']}",
            f"- statuses: {counts['by_status']}"
            + (f", decisions {counts['by_decision']}" if "by_decision" in counts else ""),
        ]
        for section in ("decisions", "scores"):
            if "error" in fr[section]:
                lines.append(f"- {section}: unavailable ({fr[section]['error']})")
        lines += [f"- details: [{f['dir']}/report.md]({f['dir']}/report.md)", ""]
        if "det.png" in f.get("plots", []):
            lines += [f"![DET {f['fold']}]({f['dir']}/det.png)", ""]
    if report.get("plots"):
        lines += ["## DET, every fold", "", "![DET by fold](det.png)", ""]
    if report.get("plots_skipped"):
        lines += [f"Plots skipped: {report['plots_skipped']}", ""]
    lines += ["---", "", report["note"], ""]
    return "\n".join(lines)


def write(
    plans: Sequence[FoldPlan],
    outcomes: dict[Path, Outcome],
    out: Path,
    *,
    data: Path,
    protocol: str,
    target: dict[str, Any],
    threshold: float,
    config: dict[str, Any],
    plots: bool = True,
) -> dict[str, Any]:
    """report.json, report.md and, per fold, folds/<fold>/ with its own report.md and DET/ROC/histogram."""
    out.mkdir(parents=True, exist_ok=True)
    sections: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    plots_skipped = ""
    for p in plans:
        fold_outcomes = [outcomes[t.sample.path] for t in p.test]
        fold_config = {
            **config,
            "data_name": f"{data.name} (fold {p.name})",
            "layout": protocol,
            "splits": [],
        }
        fr = build_report(fold_outcomes, threshold, target, fold_config)
        fold_dir = out / "folds" / p.slug
        fold_dir.mkdir(parents=True, exist_ok=True)
        if plots and not plots_skipped:
            try:
                fr["plots"] = write_plots(fold_outcomes, fr, fold_dir)
            except ImportError:
                plots_skipped = "matplotlib is not installed (pip install 'liveness[train]')"
        (fold_dir / "report.md").write_text(render_markdown(fr))
        row = fold_row(p.name, fr)
        rows.append(row)
        sections.append(
            {
                "fold": p.name,
                "dir": f"folds/{p.slug}",
                "test_domains": p.test_domains,
                "train_domains": p.train_domains,
                "row": row,
                "plots": fr.get("plots", []),
                "report": fr,
            }
        )
    domain_of = {t.sample.path: (t.domain, p.name) for p in plans for t in p.test}
    samples = sample_rows(list(outcomes.values()), data)
    for row, o in zip(samples, outcomes.values(), strict=True):
        row["domain"], row["fold"] = domain_of[o.sample.path]
    report: dict[str, Any] = {
        "protocol": protocol,
        "target": target,
        "threshold": threshold,
        "config": config,
        "folds": sections,
        "mean": mean_row(rows),
        "served_models": SERVED_MODELS_NOTE,
        "note": RESEARCH_NOTE,
        "samples": samples,
    }
    if plots_skipped:
        report["plots_skipped"] = plots_skipped
    elif plots:
        report["plots"] = _det_by_fold(plans, outcomes, out, f"DET: {target.get('name')}, {protocol}")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render(report))
    return report


def _det_by_fold(
    plans: Sequence[FoldPlan], outcomes: dict[Path, Outcome], out: Path, title: str
) -> list[str]:
    """det.png: one curve per fold (the folds whose scores hold both classes)."""
    from liveness import plots

    curves: dict[str, iso30107.Curve] = {}
    for p in plans:
        scored = [o for o in (outcomes[t.sample.path] for t in p.test) if o.scored and o.score is not None]
        try:
            curves[p.name] = iso30107.curve(
                [float(o.score or 0.0) for o in scored], [o.sample.is_live for o in scored]
            )
        except iso30107.MetricsError:
            continue
    return [plots.det_plot(curves, out / "det.png", title=title).name] if curves else []


def run_protocol(
    protocol: str,
    data: Path,
    out: Path,
    *,
    fold_names: Sequence[str],
    gateway: str | None,
    test: str | None,
    address: str | None,
    limit: int | None,
    seed: int,
    frames: int,
    concurrency: int,
    timeout_s: float,
    threshold: float | None,
    plots: bool,
    progress: bool,
) -> dict[str, Any]:
    """What `liveness eval --protocol` does: plan the folds, score their held-out samples once, write the
    reports into `out` and return the protocol report. InvalidInput names a bad data root, protocol or fold
    (liveness.scoring.run_scoring's errors pass through)."""
    tagged = tagged_samples(data)
    try:
        plans = plan(protocol, tagged, fold_names, limit, seed)
    except ValueError as exc:  # liveness.data.protocols: the protocol cannot split these domains
        raise InvalidInput(str(exc)) from None
    unique = {t.sample.path: t.sample for p in plans for t in p.test}
    if not unique:
        raise InvalidInput(f"{data}: the folds of {protocol} hold no samples")
    started = time.perf_counter()
    scored, target, chosen = run_scoring(
        list(unique.values()),
        gateway=gateway,
        test=test,
        address=address,
        frames=frames,
        concurrency=concurrency,
        timeout_s=timeout_s,
        threshold=threshold,
        progress=progress,
    )
    config = {
        "data_name": data.name,
        "datasets": sorted({t.sample.dataset for t in tagged}),
        "samples": len(tagged),
        "scored_samples": len(scored),
        "folds": [p.name for p in plans],
        "frames": frames,
        "limit": limit,
        "seed": seed,
        "concurrency": concurrency,
        "elapsed_s": time.perf_counter() - started,
    }
    outcomes = {o.sample.path: o for o in scored}
    report = write(
        plans,
        outcomes,
        out,
        data=data,
        protocol=protocol,
        target=target,
        threshold=chosen,
        config=config,
        plots=plots,
    )
    return report
