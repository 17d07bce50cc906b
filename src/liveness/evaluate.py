"""`liveness eval`: score a data set through the gateway or one test and write ISO/IEC 30107-3 reports.

The command only: sampling and scoring are liveness.scoring (where the decision rules are written down),
the report sections, report.json, report.md and the DET/ROC/histogram PNGs are liveness.eval_report, and
`--protocol` runs liveness.eval_protocol over a data root. Those raise the project's errors
(liveness.errors); here they become command-line errors (liveness.clierrors).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from liveness.clierrors import click_errors
from liveness.data.protocols import PROTOCOLS
from liveness.data.samples import detect_layout, open_dataset
from liveness.errors import InvalidInput


def _announce(gateway: str | None, address: str | None, test: str | None) -> None:
    if not (gateway or address):
        click.echo(f"starting a local stack ({test or 'all tests'})", err=True)


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
    if gateway and test:
        raise click.UsageError("give --gateway or --test, not both")
    if address and not test:
        raise click.UsageError("--address needs --test (use --gateway for a gateway)")
    for name, value in (("--frames", frames), ("--concurrency", concurrency), ("--limit", limit or 1)):
        if value < 1:
            raise click.BadParameter(f"{name} must be >= 1")
    if fold_names and not protocol:
        raise click.UsageError("--fold needs --protocol")
    if protocol:
        if splits:
            raise click.UsageError(
                "--split does not apply with --protocol (the protocol's folds split the data)"
            )
        from liveness.eval_protocol import SERVED_MODELS_NOTE, run_protocol, table

        _announce(gateway, address, test)
        with click_errors():
            report = run_protocol(
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
                progress=not quiet,
            )
        if not quiet:
            click.echo("\n".join(table([f["row"] for f in report["folds"]], report["mean"])))
            click.echo(f"\n{SERVED_MODELS_NOTE}")
        errors = sum(f["row"]["errors"] for f in report["folds"])
        click.echo(f"wrote {out / 'report.md'}, {out / 'report.json'} ({errors} error(s))", err=True)
        return
    from liveness.eval_report import write_report
    from liveness.scoring import run_scoring, select

    with click_errors():
        layout = detect_layout(data)
        samples = select(list(open_dataset(data, list(splits) or None)), limit, seed)
        if not samples:
            raise InvalidInput(f"{data}: no samples" + (f" in splits {list(splits)}" if splits else ""))
        started = time.perf_counter()
        _announce(gateway, address, test)
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
