"""Load report: `liveness bench` against each test service and the gateway on loopback, at several
concurrencies, for a bounded time each, with every process's RSS sampled throughout.

    python scripts/load_report.py [--duration 15] [--concurrency 1,4,8,16] [--tests iqa,cnn2d] [--doubles]
                                  [--out docs/reliability]

Writes load_report.md, load_report.json (every figure and the RSS series) and load_rss.png (when matplotlib
is installed) to --out. Each service is its own process, as deployed; tests that need a face get the face
regions with each request (`bench --faces`), as the gateway sends them, so their figures exclude detection;
the gateway's include it. Run it niced on a quiet machine: every figure is shared-CPU wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import REPO, Fleet, RssSampler, bench, plan_tests, slope_mib_per_min, warm_up  # noqa: E402

from liveness.v1 import liveness_pb2 as pb  # noqa: E402
from liveness.v1 import liveness_pb2_grpc as pb_grpc  # noqa: E402

IMAGE = REPO / "samples" / "astronaut.jpg"
CLIP = REPO / "samples" / "astronaut_print_moved.mp4"


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to load: a test (Check) or the gateway (Evaluate) with one media file."""

    label: str
    process: str
    address: str
    media: Path
    gateway: bool = False
    faces: bool = False


def describe(address: str) -> pb.TestInfo:
    with grpc.insecure_channel(address) as channel:
        return pb_grpc.LivenessTestStub(channel).Describe(pb.DescribeRequest(), timeout=30)


def targets_of(fleet: Fleet) -> list[Target]:
    targets = []
    any_clip = False
    for member in fleet.tests:
        info = describe(member.address)
        media = IMAGE if info.accepts_image else CLIP
        any_clip = any_clip or info.accepts_clip
        targets.append(Target(member.name, member.name, member.address, media, faces=info.needs_face))
    gw = fleet.member("gateway").address
    targets.append(Target("gateway (image)", "gateway", gw, IMAGE, gateway=True))
    if any_clip:
        targets.append(Target("gateway (clip)", "gateway", gw, CLIP, gateway=True))
    return targets


def run_one(target: Target, concurrency: int, duration_s: float, workdir: Path) -> dict[str, Any]:
    out = workdir / f"bench-{target.process}-{target.media.stem}-c{concurrency}.json"
    proc = bench(
        target.address, target.media, concurrency, duration_s, out, gateway=target.gateway, faces=target.faces
    )
    stdout, _ = proc.communicate(timeout=duration_s + 300)
    if proc.returncode != 0 or not out.exists():
        return {"target": target.label, "concurrency": concurrency, "failed": failure_text(stdout)}
    report = json.loads(out.read_text())
    load = report["load"]
    errors = sum(load["errors"].values())
    return {
        "target": target.label,
        "process": target.process,
        "media": target.media.name,
        "faces_sent": target.faces,
        "concurrency": concurrency,
        "requests": load["requests"],
        "ok": load["ok"],
        "errors": load["errors"],
        "error_rate": errors / load["requests"] if load["requests"] else 0.0,
        "answers": load["statuses"],
        "throughput_rps": load["throughput_rps"],
        "latency_ms": load["latency_ms"],
        "server_ms": load["server_ms"],
        "elapsed_s": load["elapsed_s"],
    }


def failure_text(output: bytes) -> str:
    """The end of a failed bench run's output, without import warnings and machine paths."""
    lines = [
        line
        for line in output.decode(errors="replace").splitlines()
        if "Warning" not in line and "pkg_resources" not in line
    ]
    return "\n".join(lines)[-1500:].replace(str(REPO), ".")


def rss_summary(sampler: RssSampler, name: str) -> dict[str, float]:
    times, rss = sampler.series(name)
    if not rss:
        return {}
    return {
        "start_mib": rss[0],
        "max_mib": max(rss),
        "end_mib": rss[-1],
        "slope_mib_per_min": slope_mib_per_min(times, rss),
    }


def plot(sampler: RssSampler, names: list[str], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(9, 4))
    for name in names:
        times, rss = sampler.series(name)
        ax.plot(times, rss, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _ms(stats: dict[str, float], key: str) -> str:
    return f"{stats[key]:.1f}" if key in stats else "n/a"


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        "# Load report",
        "",
        f"Measured {env['date_utc']} on {env['machine']} ({env['cpus']} CPUs, load average "
        f"{env['loadavg_start']} at start, {env['loadavg_end']} at end).",
        f"Each run: `liveness bench` for {report['duration_s']:g} s after 3 warm-up calls, one process per "
        "service on 127.0.0.1. Latencies are client round trips of successful calls.",
        "",
        "Services: " + ", ".join(f"{n} ({k})" for n, k in report["plan"].items()) + ", gateway.",
        "",
        "| target | media | conc. | requests | errors | error rate | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["runs"]:
        if "failed" in row:
            lines.append(f"| {row['target']} | | {row['concurrency']} | run failed | | | | | | |")
            continue
        lat = row["latency_ms"]
        lines.append(
            f"| {row['target']} | {row['media']}{' + faces' if row['faces_sent'] else ''} | "
            f"{row['concurrency']} | {row['requests']} | {sum(row['errors'].values())} | "
            f"{100 * row['error_rate']:.2f} % | {row['throughput_rps']:.1f} | {_ms(lat, 'p50')} | "
            f"{_ms(lat, 'p95')} | {_ms(lat, 'p99')} |"
        )
    lines += [
        "",
        "## RSS over the whole run",
        "",
        "| process | start MiB | max MiB | end MiB | slope MiB/min |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rss in report["rss"].items():
        if rss:
            lines.append(
                f"| {name} | {rss['start_mib']:.1f} | {rss['max_mib']:.1f} | {rss['end_mib']:.1f} | "
                f"{rss['slope_mib_per_min']:+.2f} |"
            )
    if report.get("plot"):
        lines += ["", f"![RSS over time]({report['plot']})"]
    failed = [r for r in report["runs"] if "failed" in r]
    for row in failed:
        lines += ["", f"Run {row['target']} c={row['concurrency']} failed:", "```", row["failed"], "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per run")
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--tests", default="", help="comma-separated tests (default: all with an artifact)")
    parser.add_argument("--doubles", action="store_true", help="stand in a double for each missing test")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability")
    parser.add_argument("--interval", type=float, default=1.0, help="RSS sampling period, s")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    plan = plan_tests([t for t in args.tests.split(",") if t] or None, args.doubles)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.out / ".bench"
    workdir.mkdir(exist_ok=True)
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    runs = []
    started = time.time()
    with Fleet(plan, env={"LIVENESS_WORKERS": "2", "OMP_NUM_THREADS": "1"}) as fleet:
        names = [m.name for m in fleet.members]
        targets = targets_of(fleet)
        warm_up(fleet, sorted({t.media for t in targets if t.gateway}))
        with RssSampler(fleet, args.interval) as sampler:
            for target in targets:
                for c in levels:
                    sampler.phase = f"{target.label} c{c}"
                    print(f"{target.label} c={c} ...", file=sys.stderr, flush=True)
                    runs.append(run_one(target, c, args.duration, workdir))
        rss = {name: rss_summary(sampler, name) for name in names}
        plotted = plot(sampler, names, args.out / "load_rss.png", "RSS during the load report")
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()
    report = {
        "environment": {
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "cpus": os.cpu_count(),
            "loadavg_start": loadavg_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "plan": plan,
        "duration_s": args.duration,
        "concurrency": levels,
        "runs": runs,
        "rss": rss,
        "rss_samples": sampler.samples,
        "plot": "load_rss.png" if plotted else None,
    }
    (args.out / "load_report.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    (args.out / "load_report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
