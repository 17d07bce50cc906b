"""Reports of the offline tools: ISO/IEC 30107-3 sections of scored outcomes, report.json, report.md, plots.

`build_report` makes every figure of one set of outcomes (liveness.scoring): counts, score metrics (AUC, EER,
BPCER at fixed APCER, rates at the threshold and at the set's own EER threshold), decision rates under the
decision rule of liveness.scoring, HTER across dev/test splits, per-split and per-test sections, latency.
`render_markdown` and `write_plots` present it; `write_report` writes all of it into a folder.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liveness import iso30107
from liveness.scoring import Outcome

DEV_SPLITS = ("devel", "dev", "val", "validation")
TEST_SPLIT = "test"
RESEARCH_NOTE = (
    "Figures on research data sets (NUAA, Replay-Attack, CASIA-FASD, OULU-NPU, replay-dev) are "
    "research-grade and say little about production use; evaluate on licensed data from the deployment's "
    "own cameras."
)


def _section(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A report section, or {"error": why} when the data cannot give it (e.g. no attacks in the subset)."""
    try:
        return compute()
    except iso30107.MetricsError as exc:
        return {"error": str(exc)}


def _score_section(outcomes: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    scored = [o for o in outcomes if o.scored]
    scores = [float(o.score) for o in scored if o.score is not None]
    live = [o.sample.is_live for o in scored]
    attacks = [o.sample.attack for o in scored]

    def compute() -> dict[str, Any]:
        summary = iso30107.summarize(scores, live, attacks, threshold=threshold, with_intervals=True)
        own = iso30107.rates_at(scores, live, summary.eer_threshold, attacks)
        return {**summary.to_dict(), "at_eer_threshold": own.to_dict()}

    return {"n_scored": len(scored), **_section(compute)}


def _hter_section(outcomes: Sequence[Outcome]) -> dict[str, Any] | None:
    """HTER on the test split at the dev split's EER threshold, when the data set has both."""
    splits = {o.sample.split for o in outcomes}
    dev = next((s for s in DEV_SPLITS if s in splits), None)
    if dev is None or TEST_SPLIT not in splits:
        return None
    dev_o = [o for o in outcomes if o.scored and o.sample.split == dev]
    test_o = [o for o in outcomes if o.scored and o.sample.split == TEST_SPLIT]

    def compute() -> dict[str, Any]:
        rates = iso30107.hter(
            [float(o.score or 0.0) for o in dev_o],
            [o.sample.is_live for o in dev_o],
            [float(o.score or 0.0) for o in test_o],
            [o.sample.is_live for o in test_o],
            [o.sample.attack for o in test_o],
        )
        return {"dev_split": dev, "test_split": TEST_SPLIT, **rates.to_dict()}

    return _section(compute)


def _split_section(outcomes: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    """Score figures per data set split, when the samples come from more than one."""
    splits = sorted({o.sample.split for o in outcomes})
    if len(splits) < 2:
        return {}
    return {
        split or "(none)": _score_section([o for o in outcomes if o.sample.split == split], threshold)
        for split in splits
    }


def _per_test_section(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Each test's own scores as the gateway reported them (status OK only), at its own EER threshold."""
    names = sorted({name for o in outcomes for name in o.tests})
    out: dict[str, Any] = {}
    for name in names:
        rows = [(o, o.tests[name]) for o in outcomes if name in o.tests]
        ok = [(o, t) for o, t in rows if t["status"] == "ok"]

        def compute(ok: list[tuple[Outcome, dict[str, Any]]] = ok) -> dict[str, Any]:
            s = iso30107.summarize(
                [t["score"] for _, t in ok],
                [o.sample.is_live for o, _ in ok],
                [o.sample.attack for o, _ in ok],
            )
            return s.to_dict()

        out[name] = {
            "n": len(rows),
            "n_ok": len(ok),
            "statuses": dict(Counter(t["status"] for _, t in rows)),
            **_section(compute),
        }
    return out


def _decision_rates(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """ISO rates of the decisions, with their intervals (`ci`: iso30107.intervals)."""
    accepted = [o.accepted for o in outcomes]
    live = [o.sample.is_live for o in outcomes]
    attacks = [o.sample.attack for o in outcomes]
    rates = iso30107.rates_from_decisions(accepted, live, attacks)
    ci = iso30107.intervals(live, accepted=accepted, attacks=attacks)
    return {**rates.to_dict(), "ci": ci.to_dict()}


def _latency(outcomes: Sequence[Outcome]) -> dict[str, float]:
    values = np.array([o.latency_ms for o in outcomes if o.status != "error"], dtype=np.float64)
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(values.mean())}


def build_report(
    outcomes: Sequence[Outcome], threshold: float, target: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """Everything report.json holds: configuration, counts, score, decision, HTER and per-test figures."""
    decisions = _section(lambda: _decision_rates(outcomes))
    report: dict[str, Any] = {
        "target": target,
        "config": config,
        "threshold": threshold,
        "counts": {
            "samples": len(outcomes),
            "by_label": dict(Counter(o.sample.label for o in outcomes)),
            "by_attack": dict(Counter(o.sample.attack for o in outcomes)),
            "by_kind": dict(Counter(o.sample.kind for o in outcomes)),
            "by_status": dict(Counter(o.status for o in outcomes)),
        },
        "scores": _score_section(outcomes, threshold),
        "decisions": decisions,
        "hter": _hter_section(outcomes),
        "by_split": _split_section(outcomes, threshold),
        "latency_ms": _latency(outcomes),
        "note": RESEARCH_NOTE,
    }
    if target.get("kind") == "gateway":
        report["counts"]["by_decision"] = dict(Counter(o.decision or "none" for o in outcomes))
        report["per_test"] = _per_test_section(outcomes)
    return report


def sample_rows(outcomes: Sequence[Outcome], root: Path) -> list[dict[str, Any]]:
    """One JSON row per sample, paths relative to the data set so reports carry no machine paths."""
    base = root if root.is_dir() else root.parent
    rows = []
    for o in outcomes:
        try:
            path = str(o.sample.path.relative_to(base))
        except ValueError:
            path = o.sample.path.name
        row: dict[str, Any] = {
            "path": path,
            "label": o.sample.label,
            "attack": o.sample.attack,
            "subject": o.sample.subject,
            "split": o.sample.split,
            "kind": o.sample.kind,
            "score": o.score,
            "status": o.status,
            "accepted": o.accepted,
            "latency_ms": round(o.latency_ms, 2),
        }
        if o.decision:
            row["decision"] = o.decision
        if o.error:
            row["error"] = o.error
        if o.tests:
            row["tests"] = o.tests
        rows.append(row)
    return rows


def write_plots(outcomes: Sequence[Outcome], report: dict[str, Any], out: Path) -> list[str]:
    """DET, ROC and histogram PNGs of the scored outcomes (per test too, for the gateway)."""
    from liveness import plots

    scored = [o for o in outcomes if o.scored]
    scores = [float(o.score) for o in scored if o.score is not None]
    live = [o.sample.is_live for o in scored]
    name = str(report["target"].get("name") or report["target"].get("kind"))
    curves: dict[str, iso30107.Curve] = {}
    try:
        curves[name] = iso30107.curve(scores, live)
    except iso30107.MetricsError:
        return []
    for test, section in report.get("per_test", {}).items():
        ok = [(o, o.tests[test]) for o in outcomes if test in o.tests and o.tests[test]["status"] == "ok"]
        if "error" not in section:
            curves[test] = iso30107.curve([t["score"] for _, t in ok], [o.sample.is_live for o, _ in ok])
    written = [
        plots.det_plot(curves, out / "det.png", title=f"DET: {name}"),
        plots.roc_plot(curves, out / "roc.png", title=f"ROC: {name}"),
        plots.histogram_plot(
            scores,
            [o.sample.attack for o in scored],
            out / "histogram.png",
            threshold=report["threshold"],
            title=f"Scores: {name}",
        ),
    ]
    return [p.name for p in written]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.2f}%"


def _rates_rows(rates: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, value) pairs for one ErrorRates dict, in reading order."""
    rows = [(f"APCER {species}", _pct(v)) for species, v in rates["apcer_by_species"].items()]
    rows += [
        ("APCER worst case", f"{_pct(rates['apcer'])} ({rates['worst_species']})"),
        ("APCER pooled", _pct(rates["apcer_pooled"])),
        ("BPCER", _pct(rates["bpcer"])),
        ("ACER", _pct(rates["acer"])),
        ("HTER", _pct(rates["hter"])),
    ]
    return rows


def ci_text(pair: Sequence[float] | None, auc: bool = False) -> str:
    """' (low-high)' of an iso30107.Intervals pair after a figure, or '' for None."""
    text = iso30107.interval_text(pair, auc)
    return f" ({text})" if text else ""


def decision_rule(kind: str, threshold: float) -> str:
    """The decision rule of liveness.scoring, as reports state it."""
    if kind == "gateway":
        return "accepted = decision LIVE (UNCERTAIN, errors and unreadable files are rejections)"
    return f"accepted = status OK and score >= {threshold:.4f} (other statuses reject)"


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: the configuration, the headline tables and the plots."""
    target, config, counts = report["target"], report["config"], report["counts"]
    title = target.get("name") or target["kind"]
    lines = [
        f"# Evaluation: {title} on {config['data_name']}",
        "",
        f"- target: {target['kind']}" + (f" `{target['name']}`" if target.get("name") else ""),
        f"- data: `{config['data_name']}` ({config['layout']}), splits: {config['splits'] or 'all'}",
        f"- samples: {counts['samples']} {counts['by_label']}, kinds {counts['by_kind']}",
        f"- statuses: {counts['by_status']}"
        + (f", decisions {counts['by_decision']}" if "by_decision" in counts else ""),
        f"- frames per video: {config['frames']}, limit: {config['limit']}, seed: {config['seed']}",
        f"- elapsed: {config['elapsed_s']:.1f} s at concurrency {config['concurrency']}",
        "",
        "## Scores",
        "",
    ]
    scores = report["scores"]
    if "error" in scores:
        lines += [f"Score metrics unavailable: {scores['error']} ({scores['n_scored']} scored).", ""]
    else:
        at = scores["at_threshold"]
        own = scores["at_eer_threshold"]
        lines += [
            f"{scores['n_scored']} presentations with a usable score.",
            "",
            "| metric | value |",
            "|---|---|",
            f"| AUC | {scores['auc']:.4f}{ci_text(scores.get('intervals', {}).get('auc'), auc=True)} |",
            f"| EER | {_pct(scores['eer'])} (threshold {scores['eer_threshold']:.4f}) |",
            *[f"| BPCER @ APCER = {k} | {_pct(v)} |" for k, v in scores["bpcer_at_apcer"].items()],
            "",
            f"At the threshold {at['threshold']:.4f} ({target.get('threshold_source', 'given')}) and at this "
            f"set's own EER threshold {own['threshold']:.4f} (optimistic: chosen on the same data):",
            "",
            "| metric | at threshold | at own EER threshold |",
            "|---|---|---|",
        ]
        for (metric, value), (_, own_value) in zip(_rates_rows(at), _rates_rows(own), strict=True):
            lines.append(f"| {metric} | {value} | {own_value} |")
        lines.append("")
    decisions = report["decisions"]
    lines += ["## Decisions", ""]
    if "error" in decisions:
        lines += [f"Decision metrics unavailable: {decisions['error']}", ""]
    else:
        lines += [decision_rule(target["kind"], report["threshold"]), "", "| metric | value |", "|---|---|"]
        lines += [f"| {metric} | {value} |" for metric, value in _rates_rows(decisions)]
        ci = decisions.get("ci", {})
        lines += [
            f"| {name} {100 * ci['level']:g} % interval | {iso30107.interval_text(ci[key]) or 'n/a'} |"
            for name, key in (("APCER worst case", "apcer"), ("BPCER", "bpcer"), ("ACER", "acer"))
            if ci
        ]
        lines += ["", *([f"Intervals: {ci['method']}.", ""] if ci else [])]
    hter = report.get("hter")
    if hter:
        lines += ["## HTER", ""]
        if "error" in hter:
            lines += [f"Unavailable: {hter['error']}", ""]
        else:
            lines += [
                f"Threshold {hter['threshold']:.4f} = EER threshold of split `{hter['dev_split']}`, "
                f"applied to `{hter['test_split']}`: HTER {_pct(hter['hter'])} "
                f"(APCER pooled {_pct(hter['apcer_pooled'])}, BPCER {_pct(hter['bpcer'])}, "
                f"ACER {_pct(hter['acer'])}).",
                "",
            ]
    by_split = report.get("by_split")
    if by_split:
        lines += [
            "## By split",
            "",
            "| split | scored | AUC | EER | ACER at threshold |",
            "|---|---|---|---|---|",
        ]
        for split, sec in by_split.items():
            if "error" in sec:
                lines.append(f"| {split} | {sec['n_scored']} | n/a | n/a | {sec['error']} |")
            else:
                acer = _pct(sec["at_threshold"]["acer"])
                lines.append(
                    f"| {split} | {sec['n_scored']} | {sec['auc']:.4f} | {_pct(sec['eer'])} | {acer} |"
                )
        lines.append("")
    per_test = report.get("per_test")
    if per_test:
        lines += [
            "## Tests inside the gateway",
            "",
            "| test | OK / n | AUC | EER | statuses |",
            "|---|---|---|---|---|",
        ]
        for name, t in per_test.items():
            auc = "n/a" if "error" in t else f"{t['auc']:.4f}"
            eer = "n/a" if "error" in t else _pct(t["eer"])
            lines.append(f"| {name} | {t['n_ok']} / {t['n']} | {auc} | {eer} | {t['statuses']} |")
        lines.append("")
    latency = report["latency_ms"]
    if latency:
        lines += [
            "## Latency (client side, per sample, includes media encoding)",
            "",
            f"p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms, "
            f"mean {latency['mean']:.1f} ms",
            "",
        ]
    if report.get("plots"):
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]] + [""]
    elif report.get("plots_skipped"):
        lines += ["## Plots", "", f"Skipped: {report['plots_skipped']}", ""]
    lines += ["---", "", report["note"], ""]
    return "\n".join(lines)


def write_report(
    outcomes: Sequence[Outcome],
    out: Path,
    *,
    data: Path,
    target: dict[str, Any],
    config: dict[str, Any],
    threshold: float,
    plots: bool = True,
) -> dict[str, Any]:
    """Write report.json, report.md and the plots into `out`; return the report."""
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(outcomes, threshold, target, config)
    if plots:
        try:
            report["plots"] = write_plots(outcomes, report, out)
        except ImportError:
            report["plots_skipped"] = "matplotlib is not installed (pip install 'liveness[train]')"
    report["samples"] = sample_rows(outcomes, data)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    return report
