"""`liveness calibrate`: dev scores -> calibrated fusion, weights, thresholds, band in a versioned config."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gateway import config as gateway_config
from gateway.config import Endpoint, GatewayConfig
from gateway.fusion import Vote, fuse
from gateway.servicer import GatewayApp
from liveness.calibrate import Row, cli, read_scores
from liveness.runtime import server
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.types import Decision, Status
from tests.conftest import encode
from tests.unit.data.doubles import BrightnessModel

BASE = {
    "version": "7",
    "budget_ms": 2000,
    "thresholds": {"live": 0.5, "spoof": 0.5, "min_weight_fraction": 0.5},
    "tests": {
        "iqa": {"address": "127.0.0.1:50052", "weight": 1.0},
        "cnn2d": {"address": "127.0.0.1:50053", "weight": 1.0},
        "temporal": {"address": "127.0.0.1:50054", "weight": 1.0},
    },
}


def synthetic_rows(n: int = 400, seed: int = 0) -> list[dict[str, str]]:
    """cnn2d separates well, temporal fairly (and only half the samples are clips), iqa is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        live = i % 2 == 0
        cnn2d = rng.beta(6, 2) if live else rng.beta(2, 6)
        temporal = rng.beta(4, 2) if live else rng.beta(2, 4)
        rows.append(
            {
                "label": "live" if live else "spoof",
                "iqa": f"{rng.uniform():.4f}",
                "cnn2d": f"{cnn2d:.4f}",
                "temporal": f"{temporal:.4f}" if i % 4 < 2 else "",
            }
        )
    return rows


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(BASE))
    scores = tmp_path / "scores.csv"
    rows = synthetic_rows()
    with scores.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return base, scores


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_logistic_config_loads_and_meets_its_targets(files: tuple[Path, Path], tmp_path: Path) -> None:
    base, scores = files
    out = tmp_path / "gateway.yaml"
    run(
        "--scores",
        str(scores),
        "--base",
        str(base),
        "--out",
        str(out),
        "--max-apcer",
        "0.05",
        "--max-bpcer",
        "0.1",
    )
    config = gateway_config.load(out, env={})
    assert config.version.startswith("7+cal.")
    assert config.calibration is not None and config.calibration.method == "logistic"
    weights = {t.name: t.weight for t in config.tests}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert weights["cnn2d"] > weights["temporal"] > weights["iqa"] and weights["iqa"] < 0.1
    assert {t.name: t.address for t in config.tests}["iqa"] == "127.0.0.1:50052"  # the map keeps its shape
    th = config.thresholds
    assert 0.0 <= th.spoof <= th.live <= 1.0
    dev = config.calibration_info["dev"]
    assert dev["apcer"] <= 0.05 and dev["samples"] == 400 and dev["auc"] > 0.85
    assert 0.8 < dev["cv5_auc"] <= 1.0
    # Calibrated: on the dev set the mean probability is close to the share of live samples.
    rows = read_scores(scores)
    probs = [
        fuse(
            [Vote(n, w, Status.OK, r.scores[n]) for n, w in weights.items() if n in r.scores],
            th,
            config.calibration,
        ).score
        for r in rows
    ]
    assert np.mean(probs) == pytest.approx(0.5, abs=0.03)


def test_missing_heavy_test_makes_the_answer_uncertain(files: tuple[Path, Path], tmp_path: Path) -> None:
    base, scores = files
    out = tmp_path / "gateway.yaml"
    run("--scores", str(scores), "--base", str(base), "--out", str(out))
    config = gateway_config.load(out, env={})
    th, cal = config.thresholds, config.calibration
    weights = {t.name: t.weight for t in config.tests}
    strong_live = {"iqa": 0.5, "cnn2d": 0.99, "temporal": 0.99}
    full = fuse([Vote(n, weights[n], Status.OK, s) for n, s in strong_live.items()], th, cal)
    assert full.decision is Decision.LIVE and not full.degraded
    # cnn2d holds most of the weight: without it the answer must be uncertain, and degraded.
    without = [
        Vote(n, weights[n], Status.TIMEOUT if n == "cnn2d" else Status.OK, s) for n, s in strong_live.items()
    ]
    out_missing = fuse(without, th, cal)
    assert out_missing.decision is Decision.UNCERTAIN and out_missing.degraded
    # The noise test missing changes nothing that matters.
    light = [
        Vote(n, weights[n], Status.TIMEOUT if n == "iqa" else Status.OK, s) for n, s in strong_live.items()
    ]
    assert fuse(light, th, cal).decision is Decision.LIVE


def test_isotonic_method(files: tuple[Path, Path], tmp_path: Path) -> None:
    base, scores = files
    out = tmp_path / "gateway.yaml"
    run("--scores", str(scores), "--base", str(base), "--out", str(out), "--method", "isotonic")
    config = gateway_config.load(out, env={})
    cal = config.calibration
    assert cal is not None and cal.method == "isotonic"
    assert list(cal.knots_x) == sorted(cal.knots_x) and list(cal.knots_y) == sorted(cal.knots_y)
    assert config.calibration_info["dev"]["auc"] > 0.85


def test_eval_report_json_is_accepted(tmp_path: Path) -> None:
    report = {
        "samples": [
            {
                "label": "live",
                "tests": {"cnn2d": {"score": 0.9, "status": "ok"}, "iqa": {"score": 0, "status": "timeout"}},
            },
            {"label": "spoof", "tests": {"cnn2d": {"score": 0.2, "status": "ok"}}},
        ]
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert read_scores(path) == [Row(True, {"cnn2d": 0.9}), Row(False, {"cnn2d": 0.2})]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --scores or --data"),
        (["--max-apcer", "2"], "--max-apcer must be in [0, 1]"),
    ],
)
def test_bad_usage(files: tuple[Path, Path], tmp_path: Path, args: list[str], message: str) -> None:
    base, scores = files
    extra = [] if not args or args[0] != "--max-apcer" else ["--scores", str(scores)]
    result = CliRunner().invoke(cli, ["--base", str(base), "--out", str(tmp_path / "o.yaml"), *extra, *args])
    assert result.exit_code != 0 and message in result.output


def test_bad_label_and_one_class_are_refused(files: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("label,cnn2d\nmaybe,0.5\n")
    result = CliRunner().invoke(
        cli, ["--scores", str(bad), "--base", str(base), "--out", str(tmp_path / "o.yaml")]
    )
    assert result.exit_code != 0 and "neither live nor spoof" in result.output
    one = tmp_path / "one.csv"
    one.write_text("label,cnn2d\nlive,0.5\nlive,0.7\n")
    result = CliRunner().invoke(
        cli, ["--scores", str(one), "--base", str(base), "--out", str(tmp_path / "o.yaml")]
    )
    assert result.exit_code != 0 and "both live and spoof" in result.output


@contextmanager
def gateway_in_thread(models: list[Any]) -> Iterator[tuple[str, dict[str, str]]]:
    """Doubles and a gateway on an event loop in another thread, so the click command can run its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stack = AsyncExitStack()

    async def start() -> tuple[str, dict[str, str]]:
        addresses = {m.name: await stack.enter_async_context(serve_model(m)) for m in models}
        config = GatewayConfig(tests=tuple(Endpoint(n, a, 1.0) for n, a in addresses.items()))
        settings = ServerSettings(port=0, grace_s=0)
        running = await server.start(GatewayApp(config, settings.limits), settings)
        stack.push_async_callback(running.stop, 0)
        return running.address, addresses

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    finally:
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_data_set_scored_through_a_gateway(tmp_path: Path) -> None:
    """--data: every sample goes through the gateway; each test's own score is kept (brightness here, so
    bright live and dark spoof images separate perfectly)."""
    rng = np.random.default_rng(0)
    for label, level in (("live", 200), ("spoof", 60)):
        folder = tmp_path / "nuaa" / label / "0001"
        folder.mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(level, 25, (48, 64, 3)), 0, 255).astype(np.uint8)
            (folder / f"0001_00_00_01_{i}.jpg").write_bytes(encode(pixels))
    with gateway_in_thread([BrightnessModel("iqa")]) as (address, tests):
        base = tmp_path / "base.yaml"
        base.write_text(yaml.safe_dump({"tests": {"iqa": {"address": tests["iqa"], "weight": 1.0}}}))
        out = tmp_path / "gateway.yaml"
        run("--data", str(tmp_path / "nuaa"), "--gateway", address, "--base", str(base), "--out", str(out))
    config = gateway_config.load(out, env={})
    dev = config.calibration_info["dev"]
    assert dev["samples"] == 24 and dev["auc"] == 1.0 and dev["apcer"] == 0.0
    assert config.calibration is not None and config.calibration.coefs["iqa"] > 0
    assert "nuaa (all splits)" == config.calibration_info["source"]


def test_wired_as_liveness_calibrate(files: tuple[Path, Path], tmp_path: Path) -> None:
    from liveness.cli import main

    base, scores = files
    out = tmp_path / "gateway.yaml"
    result = CliRunner().invoke(
        main, ["calibrate", "--scores", str(scores), "--base", str(base), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert gateway_config.load(out, env={}).calibration is not None


def test_a_test_that_ranks_the_wrong_way_earns_no_weight() -> None:
    """A test whose scores fall as liveness rises gets weight 0 and no coefficient, not a negative one."""
    from liveness.calibrate import fit_logistic

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(400):
        live = bool(rng.random() < 0.5)
        good = float(np.clip(rng.normal(0.7 if live else 0.3, 0.1), 0.01, 0.99))
        inverted = float(np.clip(rng.normal(0.4 if live else 0.6, 0.1), 0.01, 0.99))
        rows.append(Row(live, {"good": good, "inverted": inverted}))
    calibration, weights = fit_logistic(rows, ["good", "inverted"])
    assert weights == {"good": 1.0, "inverted": 0.0}
    assert set(calibration.coefs) == {"good"} and calibration.coefs["good"] > 0


def test_held_out_domains_are_scored_by_a_fusion_fitted_without_them(tmp_path: Path) -> None:
    """With a domain column, each domain is decided by weights, calibration and thresholds fitted on the
    others; a domain whose scores sit apart from the rest shows it there, and in no in-sample figure."""
    rng = np.random.default_rng(1)
    rows = []
    for domain, shift in (("a", 0.0), ("b", 0.0), ("c", 0.0), ("odd", -0.35)):
        for i in range(120):
            live = i % 2 == 0
            good = float(np.clip(rng.normal(0.75 if live else 0.25, 0.08) + shift, 0.01, 0.99))
            rows.append({"label": "live" if live else "spoof", "domain": domain, "cnn2d": f"{good:.4f}"})
    scores = tmp_path / "scores.csv"
    with scores.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["label", "domain", "cnn2d"])
        writer.writeheader()
        writer.writerows(rows)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "cal.yaml"
    output = run("--scores", str(scores), "--base", str(base), "--out", str(out))
    summary = json.loads(output[: output.rindex("}") + 1])
    held = summary["held_out_domains"]
    assert set(held) == {"a", "b", "c", "odd", "mean"}
    assert all(held[d]["acer"] < 0.1 and held[d]["auc"] > 0.99 for d in "abc")
    assert held["odd"]["bpcer"] > 0.5 and held["odd"]["auc"] > 0.99  # ranked right, threshold wrong
    assert held["mean"]["domains_with_both_classes"] == 4
    # each domain's ACER and AUC with their 95 % intervals (60 + 60 presentations: a few points wide)
    for d in ("a", "b", "c", "odd"):
        (acer_low, acer_high), (auc_low, auc_high) = held[d]["acer_ci"], held[d]["auc_ci"]
        assert acer_low <= held[d]["acer"] <= acer_high and auc_low <= held[d]["auc"] <= auc_high
    assert 0.05 < held["odd"]["acer_ci"][1] - held["odd"]["acer_ci"][0] < 0.3
    assert read_scores(scores)[0].group == "a"
    header = out.read_text().splitlines()[1]
    assert header.startswith("#   liveness calibrate --scores ") and f"--out {out}" in header


def _domain_scores(path: Path, seed: int) -> None:
    """Six domains. cnn2d separates a, b, c and d sharply but was never shown the screens of the two screen
    domains: there it calls every attack live. iqa separates every domain, less sharply."""
    rng = np.random.default_rng(seed)
    rows = []
    for domain in ("a", "b", "c", "d", "screen1", "screen2"):
        for i in range(160):
            live = i % 2 == 0
            blind = domain.startswith("screen") and not live
            cnn2d = rng.normal(0.9 if live or blind else 0.1, 0.05)
            iqa = rng.normal(0.7 if live else 0.3, 0.1)
            rows.append(
                {
                    "label": "live" if live else "spoof",
                    "domain": domain,
                    "cnn2d": f"{float(np.clip(cnn2d, 0.01, 0.99)):.4f}",
                    "iqa": f"{float(np.clip(iqa, 0.01, 0.99)):.4f}",
                }
            )
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_min_method_lets_no_test_outvote_the_others(tmp_path: Path) -> None:
    """The min rule: every member must find the face live. Members are chosen on held-out domains; on the
    domain whose attacks fool one test, the other still rejects them, where a logistic fusion that trusts
    the sharp test accepts most of them."""
    scores, base = tmp_path / "scores.csv", tmp_path / "base.yaml"
    _domain_scores(scores, seed=3)
    base.write_text(yaml.safe_dump(BASE))
    held = {}
    for method in ("logistic", "min"):
        out = tmp_path / f"{method}.yaml"
        output = run("--scores", str(scores), "--base", str(base), "--method", method, "--out", str(out))
        held[method] = json.loads(output[: output.rindex("}") + 1])["held_out_domains"]
    screens = {m: held[m]["screen1"]["apcer"] + held[m]["screen2"]["apcer"] for m in held}
    assert screens["min"] < screens["logistic"]
    assert held["min"]["mean"]["acer"] < held["logistic"]["mean"]["acer"]
    config = gateway_config.load(tmp_path / "min.yaml", env={})
    assert config.calibration is not None and config.calibration.method == "min"
    assert set(config.calibration.coefs) == {"cnn2d", "iqa"}
    assert {t.name: t.weight for t in config.tests} == {"iqa": 0.5, "cnn2d": 0.5, "temporal": 0.0}
    sets = config.calibration_info["member_sets"]
    assert sorted(tuple(s["tests"]) for s in sets) == [("cnn2d",), ("cnn2d", "iqa"), ("iqa",)]
    # Through the gateway's own fuse: a screen attack that cnn2d calls live is not LIVE.
    votes = [Vote("cnn2d", 0.5, Status.OK, 0.95), Vote("iqa", 0.5, Status.OK, 0.25)]
    assert fuse(votes, config.thresholds, config.calibration).decision is not Decision.LIVE


def test_min_members_leave_out_a_test_that_ranks_the_wrong_way() -> None:
    """A set whose only member's score falls as liveness rises cannot be fitted; it is recorded as refused
    and the chosen set does without that test."""
    from liveness.calibrate import select_members

    rng = np.random.default_rng(5)
    rows = []
    for domain in ("a", "b", "c"):
        for i in range(120):
            live = i % 2 == 0
            good = float(np.clip(rng.normal(0.75 if live else 0.25, 0.1), 0.01, 0.99))
            inverted = float(np.clip(rng.normal(0.3 if live else 0.7, 0.1), 0.01, 0.99))
            rows.append(Row(live, {"good": good, "inverted": inverted}, domain))
    members, table = select_members(rows, ["good", "inverted"], 0.05, 0.05, 0.5)
    assert members == ["good"]
    refused = [t for t in table if t["tests"] == ["inverted"]]
    assert refused and refused[0]["mean_acer"] is None and "rises" in refused[0]["refused"]


def test_targets_grid_picks_the_pair_with_the_lowest_held_out_mean(tmp_path: Path) -> None:
    """Given several APCER/BPCER pairs, the fit uses the one whose fusion decides the held-out domains with
    the lowest mean ACER, and the config records every pair's figures and the grid in its command."""
    scores, base = tmp_path / "scores.csv", tmp_path / "base.yaml"
    _domain_scores(scores, seed=3)
    base.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "grid.yaml"
    pairs = ("0.4/0.01", "0.05/0.05", "0.01/0.4")
    targets = [arg for p in pairs for arg in ("--targets", p)]
    output = run("--scores", str(scores), "--base", str(base), "--method", "min", *targets, "--out", str(out))
    summary = json.loads(output[: output.rindex("}") + 1])
    info = gateway_config.load(out, env={}).calibration_info
    grid = info["target_grid"]
    assert [(g["max_apcer"], g["max_bpcer"]) for g in grid] == [(0.4, 0.01), (0.05, 0.05), (0.01, 0.4)]
    best = min(grid, key=lambda g: g["mean_acer"])
    assert (info["max_apcer"], info["max_bpcer"]) == (best["max_apcer"], best["max_bpcer"])
    assert summary["held_out_domains"]["mean"]["acer"] == best["mean_acer"]
    assert len({g["mean_acer"] for g in grid}) > 1  # the pairs do decide differently
    assert all(g["tests"] and 0.0 <= g["worst_auc"] <= 1.0 for g in grid)
    header = out.read_text().splitlines()[1]
    assert " ".join(targets) in header and "--max-apcer" not in header


def test_targets_grid_keeps_the_first_of_equals_and_refuses_bad_pairs(tmp_path: Path) -> None:
    from liveness.calibrate import choose_targets, read_scores

    scores = tmp_path / "scores.csv"
    _domain_scores(scores, seed=4)
    rows = read_scores(scores)
    pair, table, _ = choose_targets(rows, ["cnn2d", "iqa"], "min", [(0.05, 0.05), (0.05, 0.05)], 0.5)
    assert pair == (0.05, 0.05) and table[0] == table[1]
    assert choose_targets(rows, ["cnn2d"], "min", [(0.1, 0.2)], 0.5)[:2] == ((0.1, 0.2), [])
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(BASE))
    for bad, message in (("0.1", "expected MAX_APCER/MAX_BPCER"), ("0.1/1.5", "must be in [0, 1]")):
        result = CliRunner().invoke(
            cli,
            [
                "--scores",
                str(scores),
                "--base",
                str(base),
                "--targets",
                bad,
                "--out",
                str(tmp_path / "o.yaml"),
            ],
        )
        assert result.exit_code != 0 and message in result.output
