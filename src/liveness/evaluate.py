"""`liveness eval`: score a data set through the gateway or one test and write ISO/IEC 30107-3 reports.

Each sample becomes one request (an image as-is; a video as one clip of n evenly spaced frames, so videos are
scored per video). Results go to report.json (every figure plus one row per sample), report.md (the tables)
and DET/ROC/histogram PNGs.

Decision rules, written once here so every report reads the same way:
- gateway: a presentation is accepted only when the decision is LIVE; UNCERTAIN, a failed call and an
  unreadable file all count as rejections. Score metrics use the fused score of conclusive answers.
- one test: accepted when the status is OK and score >= threshold; score metrics use OK answers only.

`--protocol` runs a validation protocol over a data root instead: liveness.eval_protocol, which reuses the
scoring, rules and report sections here per fold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from liveness import metrics
from liveness.data.protocols import PROTOCOLS
from liveness.data.samples import Sample, detect_layout, open_dataset

DEV_SPLITS = ("devel", "dev", "val", "validation")
TEST_SPLIT = "test"
RESEARCH_NOTE = (
    "Figures on research data sets (NUAA, Replay-Attack, CASIA-FASD, OULU-NPU, replay-dev) are "
    "research-grade and say little about production use; evaluate on licensed data from the deployment's "
    "own cameras."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One sample's answer. score is None when nothing usable came back (error, unreadable file)."""

    sample: Sample
    score: float | None
    status: str  # "ok", a test status ("no_face", ...), "uncertain" (gateway), or "error"
    accepted: bool  # classified bona fide under the report's decision rule
    latency_ms: float
    decision: str = ""  # gateway only: "live", "spoof", "uncertain"
    error: str = ""
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # gateway only: per-test score/status

    @property
    def scored(self) -> bool:
        return self.score is not None and self.status == "ok"


Scorer = Callable[[Sample], Awaitable[Outcome]]


def select(samples: Sequence[Sample], limit: int | None, seed: int) -> list[Sample]:
    """At most `limit` samples drawn at random with `seed`, stratified by label, in the original order.

    Each label keeps its share of the data set but at least one sample (when `limit` allows), so a small
    --limit on an unbalanced set (replay-dev: 71 spoof crops, 3 videos) still has both classes.
    """
    items = list(samples)
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise click.BadParameter("--limit must be >= 1")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, s in enumerate(items):
        by_label.setdefault(s.label, []).append(i)
    labels = sorted(by_label)
    quota = {lab: max(1, round(limit * len(by_label[lab]) / len(items))) for lab in labels}
    # Rounding and the minimum of one can overshoot or undershoot: fix on the largest classes.
    while sum(quota.values()) > limit:
        largest = max(labels, key=lambda lab: (quota[lab], lab))
        quota[largest] -= 1
    while sum(quota.values()) < limit:
        spare = [lab for lab in labels if quota[lab] < len(by_label[lab])]
        quota[max(spare, key=lambda lab: (len(by_label[lab]) - quota[lab], lab))] += 1
    keep = sorted(i for lab in labels for i in rng.sample(by_label[lab], min(quota[lab], len(by_label[lab]))))
    return [items[i] for i in keep]


async def score_all(
    samples: Sequence[Sample], scorer: Scorer, concurrency: int, progress: bool = True
) -> list[Outcome]:
    """Score every sample with `concurrency` requests in flight; results in sample order."""
    from tqdm import tqdm

    if concurrency < 1:
        raise click.BadParameter("--concurrency must be >= 1")
    results: list[Outcome | None] = [None] * len(samples)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(samples)):
        queue.put_nowait(i)
    bar = tqdm(total=len(samples), unit="sample", desc="eval", disable=not progress)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            results[i] = await scorer(samples[i])
            bar.update(1)

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(len(samples), 1)))))
    finally:
        bar.close()
    return [r for r in results if r is not None]


def _status_name(enum_type: Any, value: int, prefix: str) -> str:
    return str(enum_type.Name(value)).removeprefix(prefix).lower()


async def _media(sample: Sample, frames: int) -> Any:
    from liveness.client import media_from_path

    # Video decoding and JPEG encoding are CPU work: keep them off the event loop.
    return await asyncio.to_thread(media_from_path, sample.path, frames)


def _failure(sample: Sample, exc: BaseException, started: float) -> Outcome:
    import grpc

    if isinstance(exc, grpc.aio.AioRpcError):
        message = f"{exc.code().name}: {exc.details()}"
    else:
        message = f"{exc.__class__.__name__}: {exc}"
    return Outcome(
        sample=sample,
        score=None,
        status="error",
        accepted=False,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        error=message,
    )


def gateway_scorer(client: Any, frames: int, timeout_s: float) -> Scorer:
    """Scores through `liveness.client.GatewayClient.evaluate`; only DECISION_LIVE is an acceptance."""
    import grpc

    from liveness.errors import InvalidInput
    from liveness.v1 import liveness_pb2 as pb

    async def score(sample: Sample) -> Outcome:
        started = time.perf_counter()
        try:
            media = await _media(sample, frames)
            reply = await client.evaluate(media, timeout_s=timeout_s)
        except (grpc.aio.AioRpcError, InvalidInput, OSError) as exc:
            return _failure(sample, exc, started)
        decision = _status_name(pb.Decision, reply.decision, "DECISION_")
        conclusive = decision in ("live", "spoof")
        return Outcome(
            sample=sample,
            score=float(reply.score) if conclusive else None,
            status="ok" if conclusive else "uncertain",
            accepted=decision == "live",
            latency_ms=(time.perf_counter() - started) * 1000.0,
            decision=decision,
            error="" if conclusive else reply.detail,
            tests={
                t.result.test: {
                    "score": float(t.result.score),
                    "status": _status_name(pb.Status, t.result.status, "STATUS_"),
                    "fused": bool(t.fused),
                }
                for t in reply.tests
            },
        )

    return score


def test_scorer(client: Any, frames: int, timeout_s: float, threshold: float) -> Scorer:
    """Scores through `liveness.client.TestClient.check` (the service finds the face itself)."""
    import grpc

    from liveness.errors import InvalidInput
    from liveness.v1 import liveness_pb2 as pb

    async def score(sample: Sample) -> Outcome:
        started = time.perf_counter()
        try:
            media = await _media(sample, frames)
            reply = await client.check(media, timeout_s=timeout_s)
        except (grpc.aio.AioRpcError, InvalidInput, OSError) as exc:
            return _failure(sample, exc, started)
        status = _status_name(pb.Status, reply.status, "STATUS_")
        ok = status == "ok"
        return Outcome(
            sample=sample,
            score=float(reply.score) if ok else None,
            status=status,
            accepted=ok and float(reply.score) >= threshold,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            error="" if ok else reply.detail,
        )

    return score


def _section(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A report section, or {"error": why} when the data cannot give it (e.g. no attacks in the subset)."""
    try:
        return compute()
    except metrics.MetricsError as exc:
        return {"error": str(exc)}


def _score_section(outcomes: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    scored = [o for o in outcomes if o.scored]
    scores = [float(o.score) for o in scored if o.score is not None]
    live = [o.sample.is_live for o in scored]
    attacks = [o.sample.attack for o in scored]

    def compute() -> dict[str, Any]:
        summary = metrics.summarize(scores, live, attacks, threshold=threshold)
        own = metrics.rates_at(scores, live, summary.eer_threshold, attacks)
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
        rates = metrics.hter(
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
            s = metrics.summarize(
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
    decisions = _section(
        lambda: metrics.rates_from_decisions(
            [o.accepted for o in outcomes],
            [o.sample.is_live for o in outcomes],
            [o.sample.attack for o in outcomes],
        ).to_dict()
    )
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
    curves: dict[str, metrics.Curve] = {}
    try:
        curves[name] = metrics.curve(scores, live)
    except metrics.MetricsError:
        return []
    for test, section in report.get("per_test", {}).items():
        ok = [(o, o.tests[test]) for o in outcomes if test in o.tests and o.tests[test]["status"] == "ok"]
        if "error" not in section:
            curves[test] = metrics.curve([t["score"] for _, t in ok], [o.sample.is_live for o, _ in ok])
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


def decision_rule(kind: str, threshold: float) -> str:
    """The decision rule of the module doc, as reports state it."""
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
            f"| AUC | {scores['auc']:.4f} |",
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
        lines += [f"| {metric} | {value} |" for metric, value in _rates_rows(decisions)] + [""]
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


async def _evaluate(
    samples: Sequence[Sample],
    *,
    address: str,
    test: str | None,
    frames: int,
    concurrency: int,
    timeout_s: float,
    threshold: float | None,
    progress: bool,
) -> tuple[list[Outcome], dict[str, Any], float]:
    from liveness.client import GatewayClient, TestClient

    if test is not None:
        async with TestClient(address) as client:
            info = await client.describe(timeout_s=timeout_s)
            chosen = float(info.recommended_threshold) if threshold is None else threshold
            source = "the test's recommended threshold" if threshold is None else "--threshold"
            target = {
                "kind": "test",
                "name": info.name or test,
                "version": info.version,
                "threshold_source": source,
            }
            scorer = test_scorer(client, frames, timeout_s, chosen)
            return await score_all(samples, scorer, concurrency, progress), target, chosen
    async with GatewayClient(address) as gw:
        chosen = 0.5 if threshold is None else threshold
        source = "0.5 on the fused score" if threshold is None else "--threshold"
        outcomes = await score_all(samples, gateway_scorer(gw, frames, timeout_s), concurrency, progress)
        return outcomes, {"kind": "gateway", "name": "gateway", "threshold_source": source}, chosen


def run_scoring(
    samples: Sequence[Sample],
    *,
    gateway: str | None,
    test: str | None,
    address: str | None,
    frames: int,
    concurrency: int,
    timeout_s: float,
    threshold: float | None,
    progress: bool,
) -> tuple[list[Outcome], dict[str, Any], float]:
    """Score `samples` through the running gateway (or test at `address`), else through a local stack
    started for the call and stopped after it; (outcomes, target, threshold) as `_evaluate` returns them."""
    kwargs: dict[str, Any] = dict(
        test=test,
        frames=frames,
        concurrency=concurrency,
        timeout_s=timeout_s,
        threshold=threshold,
        progress=progress,
    )
    running = gateway or address
    if running:
        return asyncio.run(_evaluate(samples, address=running, **kwargs))
    from liveness.stack import LocalStack

    click.echo(f"starting a local stack ({test or 'all tests'})", err=True)
    try:
        stack = LocalStack([test] if test else None)
    except ValueError as exc:  # a test the gateway configuration does not list
        raise click.UsageError(str(exc)) from None
    with contextlib.ExitStack() as cleanup:
        try:
            cleanup.enter_context(stack)
        except (RuntimeError, TimeoutError) as exc:
            raise click.ClickException(f"local stack: {exc}") from None
        where = stack.addresses[test] if test else stack.gateway_address
        return asyncio.run(_evaluate(samples, address=where, **kwargs))


@click.command()
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Data set folder (NUAA, Replay-Attack, CASIA-FASD, OULU-NPU layout) or manifest .csv; with "
    "--protocol, a data root holding nuaa/, replay-dev/, replay-more/ (or one such data set folder).",
)
@click.option("--split", "splits", multiple=True, help="Only these splits of the data set (repeatable).")
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOLS),
    default=None,
    help="Score each fold's held-out domain of this validation protocol (liveness.data.protocols) and "
    "report every fold and the mean. A protocol figure only when the served models were fitted without "
    "the held-out domain: point the tests at fold models with <TEST>_MODEL_PATH (e.g. TEXTURE_MODEL_PATH "
    "for `liveness train texture --hold-out DOMAIN`) and pick that fold with --fold.",
)
@click.option("--fold", "fold_names", multiple=True, help="With --protocol: only these folds (repeatable).")
@click.option(
    "--gateway", default=None, help="HOST:PORT of a running gateway (default: start a local stack)."
)
@click.option("--test", default=None, help="Evaluate one test directly instead of the fused gateway.")
@click.option("--address", default=None, help="With --test: HOST:PORT of that running test service.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Report folder.")
@click.option(
    "--limit",
    type=int,
    default=None,
    help="Score at most N samples (with --protocol: per fold), drawn at random with --seed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --limit draw.")
@click.option("--frames", type=int, default=16, show_default=True, help="Evenly spaced frames per video.")
@click.option("--concurrency", type=int, default=2, show_default=True, help="Requests in flight.")
@click.option(
    "--timeout", "timeout_s", type=float, default=60.0, show_default=True, help="Deadline per request, s."
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Score threshold for APCER/BPCER (default: the test's recommended threshold; 0.5 for the gateway).",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def cli(
    data: Path,
    splits: tuple[str, ...],
    protocol: str | None,
    fold_names: tuple[str, ...],
    gateway: str | None,
    test: str | None,
    address: str | None,
    out: Path,
    limit: int | None,
    seed: int,
    frames: int,
    concurrency: int,
    timeout_s: float,
    threshold: float | None,
    no_plots: bool,
    quiet: bool,
) -> None:
    """Score a data set through the gateway (or one test) and write report.md, report.json and plots.

    With --protocol, score the held-out samples of every fold of that protocol once and report APCER per
    attack species, BPCER, ACER, AUC and EER per fold and their mean (one DET plot per fold). These are the
    served models' figures: a protocol figure only when those models were fitted without the fold's
    held-out domain.
    """
    from liveness.errors import InvalidInput

    if gateway and test:
        raise click.UsageError("give --gateway or --test, not both")
    if address and not test:
        raise click.UsageError("--address needs --test (use --gateway for a gateway)")
    if frames < 1:
        raise click.BadParameter("--frames must be >= 1")
    if fold_names and not protocol:
        raise click.UsageError("--fold needs --protocol")
    if protocol:
        if splits:
            raise click.UsageError(
                "--split does not apply with --protocol (the protocol's folds split the data)"
            )
        from liveness.eval_protocol import run_protocol

        run_protocol(
            protocol,
            data,
            out,
            fold_names=fold_names,
            gateway=gateway,
            test=test,
            address=address,
            limit=limit,
            seed=seed,
            frames=frames,
            concurrency=concurrency,
            timeout_s=timeout_s,
            threshold=threshold,
            plots=not no_plots,
            quiet=quiet,
        )
        return
    try:
        layout = detect_layout(data)
        samples = select(list(open_dataset(data, list(splits) or None)), limit, seed)
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    if not samples:
        raise click.UsageError(f"{data}: no samples" + (f" in splits {list(splits)}" if splits else ""))
    started = time.perf_counter()
    outcomes, target, chosen = run_scoring(
        samples,
        gateway=gateway,
        test=test,
        address=address,
        frames=frames,
        concurrency=concurrency,
        timeout_s=timeout_s,
        threshold=threshold,
        progress=not quiet,
    )
    config = {
        "data_name": data.name,
        "layout": layout,
        "splits": list(splits),
        "frames": frames,
        "limit": limit,
        "seed": seed,
        "concurrency": concurrency,
        "elapsed_s": time.perf_counter() - started,
    }
    report = write_report(
        outcomes, out, data=data, target=target, config=config, threshold=chosen, plots=not no_plots
    )
    click.echo((out / "report.md").read_text() if not quiet else "", nl=False)
    errors = report["counts"]["by_status"].get("error", 0)
    click.echo(f"wrote {out / 'report.md'}, {out / 'report.json'} ({errors} error(s))", err=True)
