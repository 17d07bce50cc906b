"""Join held-out scores of every test into the one CSV that `liveness calibrate --scores` fits the fusion on.

Each score in the output comes from a model that never saw the row's domain:

- NUAA (per session): cross-session scores, i.e. the session was held out when the model was fitted:
  texture from `liveness train texture` (its cache's oof_scores.csv, protocol cross-session), cnn2d from
  `liveness train cnn2d --cross-session` and iqa from `liveness train iqa --cross-session` (each a
  metrics-cross-session.json). Without --iqa, iqa's NUAA scores are left empty (the shipped iqa saw both
  sessions; calibrate fills a missing score with the test's mean logit, which carries no evidence either way).
  A NUAA row is keyed by its path under the data root: NUAA repeats 165 file names between live/ and spoof/.
  iqa's scores carry that path; cnn2d's are keyed by file name alone, so a name that two NUAA images share
  gets no cnn2d score (it cannot say which image it scored).
- replay-more (per source): a `liveness eval` report of the stack on replay-more with models that never saw
  it: the shipped iqa and cnn2d (trained on NUAA and replay-dev only). texture's score is its
  leave-one-source-out score (the same oof_scores.csv, protocol cross-source: fitted on every other source,
  like the shipped texture meets a new camera); the report's own texture score (the shipped texture saw every
  source) is never used, and a row that run found no face in has no texture score. With --cnn2d-sources (a
  cnn2d trained on replay-more: `liveness train cnn2d --cross-source all`), cnn2d's replay-more
  scores are its leave-one-source-out ones in the same way.
- replay-dev (per person), with --fold-report (repeatable): the report.json of `liveness eval --protocol
  cross-source --fold replay-dev/PERSON` served with a cnn2d and a texture retrained without that person
  (scripts/eval_replay_dev.sh writes them); its rows join as that person's domain with those two scores.
  iqa's score is left out there: the shipped iqa was trained on replay-dev.

At most --per-cell rows per (domain, label), drawn with --seed, so NUAA's 3,500 faces do not outvote a screen
source of 60. Usage (the commands that made the shipped config are in its header):

    python scripts/fusion_scores.py --texture .cache/texture/oof_scores.csv \
        --cnn2d .cache/cnn2d-xs/metrics-cross-session.json --iqa .cache/iqa-xs/metrics-cross-session.json \
        --report reports/replay-more-unseen/report.json \
        --fold-report reports/replay-dev-held-out/krzysiek/report.json \
        --fold-report reports/replay-dev-held-out/tranvanluyt/report.json --out reports/fusion-scores.csv
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import click

TESTS = ("iqa", "cnn2d", "texture")
FILE = click.Path(path_type=Path, exists=True, dir_okay=False)


def protocol_folds(path: Path, protocol: str = "cross-session") -> list[dict[str, Any]]:
    """The folds of one protocol in a `liveness train <test> --cross-session` (or `--cross-source`)
    metrics file."""
    try:
        return list(json.loads(path.read_text())["protocols"][protocol])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{path}: no protocols.{protocol} folds ({exc})") from None


@click.command()
@click.option("--texture", "texture_csv", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--cnn2d", "cnn2d_json", type=click.Path(path_type=Path, exists=True), required=True)
@click.option(
    "--iqa",
    "iqa_json",
    type=FILE,
    default=None,
    help="iqa's metrics-cross-session.json (`liveness train iqa --cross-session`): its NUAA scores.",
)
@click.option(
    "--cnn2d-sources",
    "cnn2d_sources_json",
    type=FILE,
    default=None,
    help="cnn2d's metrics-cross-source.json (`liveness train cnn2d --cross-source all`): its replay-more "
    "scores, each from a model that never saw the source, replacing the report's (for a cnn2d that was "
    "trained on replay-more).",
)
@click.option("--report", "report_json", type=click.Path(path_type=Path, exists=True), required=True)
@click.option(
    "--fold-report",
    "fold_reports",
    type=FILE,
    multiple=True,
    help="A `liveness eval --protocol ... --fold F` report.json whose served cnn2d and texture were fitted "
    "without F (scripts/eval_replay_dev.sh): its rows join as domain F (repeatable).",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option(
    "--per-cell", type=int, default=300, show_default=True, help="Rows per (domain, label) at most."
)
@click.option("--seed", type=int, default=0, show_default=True)
def main(
    texture_csv: Path,
    cnn2d_json: Path,
    iqa_json: Path | None,
    cnn2d_sources_json: Path | None,
    report_json: Path,
    fold_reports: tuple[Path, ...],
    out: Path,
    per_cell: int,
    seed: int,
) -> None:
    rows: dict[str, dict[str, str]] = {}
    texture_unseen_source: dict[str, str] = {}
    with texture_csv.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["protocol"] == "cross-source" and r["domain"].startswith("replay-more/"):
                texture_unseen_source[r["clip"]] = r["texture"]
            if r["protocol"] == "cross-session":
                rows[r["clip"]] = {
                    "domain": r["domain"],
                    "label": r["label"],
                    "attack": r["attack"],
                    "texture": r["texture"],
                }
    # cnn2d keys its scores "live/<file>" / "spoof/<file>"; files it wrote before that keyed them by file
    # name alone, which NUAA repeats between live/ and spoof/ (165 names): such a name is left unscored
    by_name: dict[str, list[str]] = defaultdict(list)
    for key, r in rows.items():
        by_name[f"{r['label']}/{Path(key).name}"].append(key)
        by_name[Path(key).name].append(key)
    for fold in protocol_folds(cnn2d_json):
        for name, score in fold["scores"].items():
            if len(by_name.get(name, ())) == 1:
                rows[by_name[name][0]]["cnn2d"] = f"{score:.6f}"
    unscored = [k for k, r in rows.items() if "cnn2d" not in r]
    for key in unscored:  # a row without a held-out cnn2d score would be fitted on a made-up one
        del rows[key]
    if unscored:
        click.echo(
            f"left out {len(unscored)} NUAA faces without a held-out cnn2d score (no face found, or a name "
            "that a cnn2d file written before it keyed scores by label cannot tell apart)"
        )
    if iqa_json is not None:
        matched = 0
        for fold in protocol_folds(iqa_json):
            for key, score in fold["scores"].items():
                if key in rows:
                    rows[key]["iqa"] = f"{score:.6f}"
                    matched += 1
        if not matched:
            raise click.BadParameter(f"{iqa_json}: none of its scores names a NUAA row of {texture_csv}")
    cnn2d_unseen_source: dict[str, float] | None = None
    if cnn2d_sources_json is not None:
        cnn2d_unseen_source = {
            k: v
            for fold in protocol_folds(cnn2d_sources_json, "cross-source")
            for k, v in fold["scores"].items()
        }
    report = json.loads(report_json.read_text())
    for sample in report["samples"]:
        tests = {
            n: t for n, t in (sample.get("tests") or {}).items() if t.get("status") == "ok" and n in TESTS
        }
        if not ({"cnn2d", "texture"} & set(tests)):
            continue  # no face found: nothing for the face tests to weigh (a face-finding matter)
        source = sample["path"].split("/", 1)[0]
        key = f"replay-more/{sample['path']}"
        rows[key] = {
            "domain": f"replay-more/{source}",
            "label": sample["label"],
            "attack": sample["attack"],
            **{n: f"{t['score']:.6f}" for n, t in tests.items()},
        }
        rows[key].pop("texture", None)
        if key in texture_unseen_source:
            rows[key]["texture"] = texture_unseen_source[key]
        if cnn2d_unseen_source is not None:  # the report's cnn2d saw this source: only held-out scores count
            rows[key].pop("cnn2d", None)
            if key in cnn2d_unseen_source:
                rows[key]["cnn2d"] = f"{cnn2d_unseen_source[key]:.6f}"
    for path in fold_reports:
        for sample in json.loads(path.read_text())["samples"]:
            held = {
                n: t
                for n, t in (sample.get("tests") or {}).items()
                if t.get("status") == "ok" and n in ("cnn2d", "texture")
            }
            if not held:
                continue  # no face found
            if not sample.get("fold"):
                raise click.BadParameter(f"{path}: a sample without its fold; run `liveness eval --fold`")
            rows[sample["path"]] = {
                "domain": sample["fold"],
                "label": sample["label"],
                "attack": sample["attack"],
                **{n: f"{t['score']:.6f}" for n, t in held.items()},
            }
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, r in sorted(rows.items()):
        cells[(r["domain"], r["label"])].append(key)
    rng = random.Random(seed)
    keep = sorted(k for keys in cells.values() for k in rng.sample(keys, min(per_cell, len(keys))))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "attack", "domain", *TESTS])
        writer.writeheader()
        for key in keep:
            r = rows[key]
            writer.writerow(
                {
                    "path": key,
                    "label": r["label"],
                    "attack": r["attack"],
                    "domain": r["domain"],
                    **{n: r.get(n, "") for n in TESTS},
                }
            )
    counts = {f"{d}/{lab}": min(per_cell, len(v)) for (d, lab), v in sorted(cells.items())}
    click.echo(f"wrote {out}: {len(keep)} rows {counts}")


if __name__ == "__main__":
    main()
