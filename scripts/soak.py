"""Soak: steady load through the gateway for several minutes while every process's RSS is sampled; memory
must stay flat (least-squares RSS slope after the warm-up below --max-slope MiB/min for every process).

    python scripts/soak.py [--minutes 5] [--concurrency 4] [--tests iqa,cnn2d] [--doubles]
                           [--out docs/reliability]

Load: `liveness bench` on the gateway with the sample image and, when a test takes clips, a second one with
the sample clip, plus a trickle of bad-input battery requests (tests/reliability/battery.py) so the error
paths are soaked too. Writes soak.md, soak.json and soak_rss.png (with matplotlib) to --out; exits 1 when
memory is not flat, a bench run failed, or a bad input got an answer other than its documented one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import REPO, Fleet, RssSampler, bench, plan_tests, slope_mib_per_min, warm_up  # noqa: E402
from load_report import CLIP, IMAGE, describe, failure_text, plot  # noqa: E402

from liveness.client import channel_options  # noqa: E402
from liveness.v1 import liveness_pb2_grpc as pb_grpc  # noqa: E402
from tests.reliability.battery import TOO_BIG, cases  # noqa: E402


class BadInputTrickle:
    """Sends the gateway's battery cases round robin at `rate_rps`; counts answers that break the contract.

    The oversize-message case is left out: its answer depends on the gateway's transport limit, which the
    fleet leaves at its 64 MiB default (the battery runs its servers at 12 MiB).
    """

    def __init__(self, address: str, rate_rps: float) -> None:
        self._address = address
        self._period_s = 1.0 / rate_rps if rate_rps > 0 else 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bad-input", daemon=True)
        self.sent = 0
        self.unexpected: Counter[str] = Counter()

    def _run(self) -> None:
        battery = [c for c in cases() if c.for_gateway and c.expect != TOO_BIG]
        with grpc.insecure_channel(self._address, options=channel_options()) as channel:
            stub = pb_grpc.LivenessStub(channel)
            while self._period_s and not self._stop.is_set():
                case = battery[self.sent % len(battery)]
                try:
                    stub.Evaluate(case.evaluate_request(), timeout=30)
                    code = "OK"
                except grpc.RpcError as exc:
                    code = exc.code().name  # type: ignore[attr-defined]
                self.sent += 1
                if code != case.expect:
                    self.unexpected[f"{case.id}: {code}"] += 1
                self._stop.wait(self._period_s)

    def __enter__(self) -> BadInputTrickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def verdicts(sampler: RssSampler, names: list[str], warmup_s: float, max_slope: float) -> dict[str, Any]:
    out = {}
    for name in names:
        times, rss = sampler.series(name)
        steady = [(t, r) for t, r in zip(times, rss, strict=True) if t >= warmup_s]
        st, sr = [t for t, _ in steady], [r for _, r in steady]
        slope = slope_mib_per_min(st, sr)
        first_min = [r for t, r in steady if t < warmup_s + 60]
        last_min = [r for t, r in steady if t >= st[-1] - 60] if st else []
        out[name] = {
            "start_mib": rss[0] if rss else None,
            "after_warmup_mib": sr[0] if sr else None,
            "end_mib": rss[-1] if rss else None,
            "max_mib": max(rss) if rss else None,
            "first_minute_mean_mib": sum(first_min) / len(first_min) if first_min else None,
            "last_minute_mean_mib": sum(last_min) / len(last_min) if last_min else None,
            "slope_after_warmup_mib_per_min": slope,
            "flat": abs(slope) <= max_slope and len(sr) >= 3,
        }
    return out


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        "# Soak",
        "",
        f"Measured {env['date_utc']} on {env['machine']} ({env['cpus']} CPUs, load average "
        f"{env['loadavg_start']} at start, {env['loadavg_end']} at end; shared with other jobs).",
        f"{report['minutes']:g} min of load through the gateway; services: "
        + ", ".join(f"{n} ({k})" for n, k in report["plan"].items())
        + f". RSS sampled every {report['interval_s']:g} s; slopes are least-squares fits after the "
        f"first {report['warmup_s']:g} s.",
        "",
        "| load | conc. | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in report["load"]:
        if "failed" in run:
            lines.append(f"| {run['media']} | {run['concurrency']} | run failed | | | | | |")
            continue
        lat = run["latency_ms"]
        lines.append(
            f"| gateway, {run['media']} | {run['concurrency']} | {run['requests']} | "
            f"{sum(run['errors'].values())} | {run['throughput_rps']:.1f} | {lat.get('p50', 0):.1f} | "
            f"{lat.get('p95', 0):.1f} | {lat.get('p99', 0):.1f} |"
        )
    bad = report["bad_input"]
    lines += [
        "",
        f"Bad-input trickle: {bad['sent']} battery requests, {sum(bad['unexpected'].values())} with an "
        "answer other than the documented one.",
        "",
        "| process | start MiB | after warm-up | first-min mean | last-min mean | end MiB | max MiB | "
        "slope MiB/min | flat |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    keys = (
        "start_mib",
        "after_warmup_mib",
        "first_minute_mean_mib",
        "last_minute_mean_mib",
        "end_mib",
        "max_mib",
    )
    for name, v in report["rss"].items():
        cells = " | ".join("n/a" if v[k] is None else f"{v[k]:.1f}" for k in keys)
        flat = "yes" if v["flat"] else "NO"
        lines.append(f"| {name} | {cells} | {v['slope_after_warmup_mib_per_min']:+.2f} | {flat} |")
    lines += [
        "",
        f"Verdict: {'PASS' if report['passed'] else 'FAIL'} (max slope {report['max_slope']:g} MiB/min).",
    ]
    if report.get("plot"):
        lines += ["", f"![RSS during the soak]({report['plot']})"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4, help="workers in all (split image/clip)")
    parser.add_argument("--tests", default="", help="comma-separated tests (default: all with an artifact)")
    parser.add_argument("--doubles", action="store_true", help="stand in a double for each missing test")
    parser.add_argument("--bad-rps", type=float, default=2.0, help="bad-input requests per second")
    parser.add_argument("--interval", type=float, default=2.0, help="RSS sampling period, s")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds left out of the slope fit")
    parser.add_argument("--max-slope", type=float, default=1.0, help="flat: |RSS slope| <= this, MiB/min")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability")
    args = parser.parse_args()
    duration_s = args.minutes * 60.0
    plan = plan_tests([t for t in args.tests.split(",") if t] or None, args.doubles)
    args.out.mkdir(parents=True, exist_ok=True)
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    started = time.time()
    with Fleet(plan, env={"LIVENESS_WORKERS": "2", "OMP_NUM_THREADS": "1"}) as fleet:
        names = [m.name for m in fleet.members]
        gateway = fleet.member("gateway").address
        clips = any(describe(m.address).accepts_clip for m in fleet.tests)
        loads = [(IMAGE, max(1, args.concurrency // 2 if clips else args.concurrency))]
        if clips:
            loads.append((CLIP, max(1, args.concurrency - loads[0][1])))
        warm_up(fleet, [media for media, _ in loads])
        with RssSampler(fleet, args.interval) as sampler, BadInputTrickle(gateway, args.bad_rps) as trickle:
            sampler.phase = "soak"
            running = []
            for media, c in loads:
                path = args.out / f".soak-{media.stem}.json"
                running.append((media, c, path, bench(gateway, media, c, duration_s, path, gateway=True)))
            results = []
            for media, c, path, proc in running:
                stdout, _ = proc.communicate(timeout=duration_s + 600)
                if proc.returncode != 0 or not path.exists():
                    results.append({"media": media.name, "concurrency": c, "failed": failure_text(stdout)})
                    continue
                load = json.loads(path.read_text())["load"]
                path.unlink()
                results.append({"media": media.name, **load})
        rss = verdicts(sampler, names, args.warmup, args.max_slope)
        plotted = plot(sampler, names, args.out / "soak_rss.png", f"RSS during a {args.minutes:g} min soak")
    passed = (
        all(v["flat"] for v in rss.values())
        and all("failed" not in r for r in results)
        and not trickle.unexpected
    )
    report = {
        "environment": {
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "cpus": os.cpu_count(),
            "loadavg_start": loadavg_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "plan": plan,
        "minutes": args.minutes,
        "interval_s": args.interval,
        "warmup_s": args.warmup,
        "max_slope": args.max_slope,
        "load": results,
        "bad_input": {"sent": trickle.sent, "unexpected": dict(trickle.unexpected)},
        "rss": rss,
        "passed": passed,
        "rss_samples": sampler.samples,
        "plot": "soak_rss.png" if plotted else None,
    }
    (args.out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    (args.out / "soak.md").write_text(text)
    print(text)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
