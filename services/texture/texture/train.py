"""Train the texture test and validate it on held-out sessions and sources.

`liveness train texture --data ../shared/data` (or `python -m texture.train ...`). Steps:

1. Faces: every NUAA image, every 3rd replay-dev video frame and every replay-more image is searched with
   the gateway's face finding (liveness.vision.face.observe_upright, as served); the face box is
   cropped to 64 px (texture.data, cached under --cache).
2. Features: colour LBP and image-distortion measures (texture.features), cached.
3. Validation, the headline: the protocols of liveness.data.protocols (cross-session, session- and
   subject-disjoint, leave one source out). In every fold the model *and its calibration* are fitted on the
   training side only: the calibration's Platt map is fitted on out-of-domain scores of the training side
   (leave one training domain out), so the threshold 0.5 is fixed before the held-out domain is seen.
4. The served model is fitted the same way on everything; metrics.json keeps every fold's figures with their
   counts; --cache/oof_scores.csv every held-out score.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from liveness import iso30107, training
from liveness.data.protocols import PROTOCOLS, folds
from liveness.data.samples import kind_of
from texture import data
from texture.features import DISTORTION_NAMES, FEATURE_NAMES, N_FEATURES, features
from texture.model import ARTIFACT, TextureArtifact

VERSION = "3.0.0"
THRESHOLD = 0.5
C = 0.003
"""Inverse L2 strength of the logistic regression, chosen with the features (MODEL_CARD.md, "Selection") on
the fused decision each held-out domain gets (`liveness calibrate`'s leave-one-domain-out figures, the
target grid of scripts/fit_fusion.sh, over NUAA's sessions and replay-more's sources). 3.0.0 (with the hue
plane's CoALBP): C = 0.001 / 0.003 / 0.01 gave a held-out mean fused ACER of 11.4 / 10.8 / 10.8 % (targets
2 % / 3 %; NUAA cross-session 0.4 / 1.3 / 3.5 %), and texture's own held-out AUCs moved by less than 0.01.
2.2.0 (without it): C = 0.0003 / 0.001 / 0.003 / 0.01 / 0.03 gave 11.5 / 10.0 / 10.2 / 11.5 / 12.9 % at
targets 3 % / 3 %, aksultan's fused AUC rising with C (0.713 / 0.802 / 0.833 / 0.847 / 0.849)."""
AGREE = 0.8
MIN_EFFECT = 0.2
"""A feature is used when, in at least AGREE of the training domains, live and attack faces differ in it by
a standardised mean difference (Cohen's d) of at least MIN_EFFECT in one direction, and in no domain by as
much in the other. Cues that flip between domains (a source's colour cast, a camera's brightness) are what a
model learns and a new camera breaks: without this rule the same features ranked the left-out sources at
mean AUC 0.831 (aksultan 0.73, neonipun 0.63, tricky 0.51); with it 0.962."""
SEED = 0
FloatArray = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def sample_weights(live: Mask, domain: npt.NDArray[np.str_]) -> FloatArray:
    """Every (domain, class) cell gets the same total weight, so NUAA's 3,500 faces do not drown a source
    of 50 and each class counts equally inside each domain."""
    w = np.zeros(len(live), dtype=np.float64)
    cells = {(d, bool(v)) for d, v in zip(domain.tolist(), live.tolist(), strict=True)}
    for d, v in cells:
        m = (domain == d) & (live == v)
        w[m] = 1.0 / m.sum()
    return w * len(live) / w.sum()


def consistent_features(x: FloatArray, live: Mask, domain: npt.NDArray[np.str_]) -> Mask:
    """Columns whose live-attack difference points the same way across the domains (AGREE, MIN_EFFECT).
    Domains with fewer than two faces of a class have no say."""
    votes = []
    for d in sorted(set(domain.tolist())):
        a, b = x[(domain == d) & live], x[(domain == d) & ~live]
        if len(a) < 2 or len(b) < 2:
            continue
        effect = (a.mean(axis=0) - b.mean(axis=0)) / (np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2) + 1e-9)
        votes.append(np.sign(effect) * (np.abs(effect) >= MIN_EFFECT))
    if not votes:
        raise ValueError("no training domain holds two live and two attack faces")
    v = np.asarray(votes)
    pos, neg = (v > 0).mean(axis=0), (v < 0).mean(axis=0)
    return (np.maximum(pos, neg) >= AGREE) & (np.minimum(pos, neg) == 0)


def fit_linear(x: FloatArray, live: Mask, domain: npt.NDArray[np.str_], c: float) -> TextureArtifact:
    """Standardise + L2 logistic regression on the consistent features (the others get weight 0),
    uncalibrated (slope 1, offset 0)."""
    keep = consistent_features(x, live, domain)
    if not keep.any():
        raise ValueError("no feature points the same way in the training domains")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=c, max_iter=5000)
    clf.fit(((x - mean) / scale)[:, keep], live.astype(int), sample_weight=sample_weights(live, domain))
    coef = np.zeros(x.shape[1], dtype=np.float64)
    coef[keep] = clf.coef_[0]
    return TextureArtifact(
        version=VERSION,
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=float(clf.intercept_[0]),
        platt_slope=1.0,
        platt_offset=0.0,
        threshold=THRESHOLD,
    )


def platt(decisions: FloatArray, live: Mask, domain: npt.NDArray[np.str_]) -> tuple[float, float]:
    """Slope and offset of P(live) = sigmoid(a d + b), fitted on out-of-domain decisions, domains balanced."""
    clf = LogisticRegression(C=1e6, max_iter=5000)
    clf.fit(decisions.reshape(-1, 1), live.astype(int), sample_weight=sample_weights(live, domain))
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def fit_calibrated(x: FloatArray, live: Mask, domain: npt.NDArray[np.str_], c: float = C) -> TextureArtifact:
    """The classifier on all of x, with a Platt map fitted on leave-one-domain-out decisions of x alone."""
    oof = np.zeros(len(live), dtype=np.float64)
    domains = sorted(set(domain.tolist()))
    for held in domains:
        test = domain == held
        if test.all():
            raise ValueError("calibration needs at least two training domains")
        oof[test] = fit_linear(x[~test], live[~test], domain[~test], c).decision(x[test])
    slope, offset = platt(oof, live, domain)
    model = fit_linear(x, live, domain, c)
    return TextureArtifact(
        version=model.version,
        mean=model.mean,
        scale=model.scale,
        coef=model.coef,
        intercept=model.intercept,
        platt_slope=slope,
        platt_offset=offset,
        threshold=THRESHOLD,
    )


def summarise(scores: FloatArray, faces: data.Faces) -> dict[str, Any]:
    """ISO/IEC 30107-3 figures at the fixed threshold, threshold-free figures, counts; and per clip where
    several faces come from one video (the clip's decision is its mean score)."""
    attacks = faces.attack.tolist()
    out: dict[str, Any] = {
        "faces": iso30107.summarize(
            scores, faces.live, attacks, threshold=THRESHOLD, with_intervals=True
        ).to_dict()
    }
    videos = sorted({c for c in faces.clip.tolist() if kind_of(Path(c)) == "video"})
    if videos:
        rows = []
        for clip in videos:
            m = faces.clip == clip
            mean = float(scores[m].mean())
            rows.append(
                {
                    "clip": clip,
                    "live": bool(faces.live[m][0]),
                    "score": mean,
                    "faces": int(m.sum()),
                    "right": (mean >= THRESHOLD) == bool(faces.live[m][0]),
                }
            )
        out["clips"] = rows
    return out


def run_protocol(
    protocol: str, x: FloatArray, faces: data.Faces, c: float = C, progress: bool = True
) -> tuple[list[dict[str, Any]], FloatArray]:
    """Each fold's figures and the held-out score of every row (NaN where no fold tests a row)."""
    rows = []
    held_out = np.full(len(faces), np.nan)
    for fold in tqdm(folds(protocol, faces.domain, faces.subject), desc=protocol, disable=not progress):
        model = fit_calibrated(x[fold.train], faces.live[fold.train], faces.domain[fold.train], c)
        scores = model.proba(x[fold.test])
        held_out[fold.test] = scores
        test = faces.take(fold.test)
        if test.live.all() or not test.live.any():
            raise ValueError(f"{protocol} fold {fold.name}: the held-out side lacks live or spoof faces")
        rows.append({"fold": fold.name, "train_faces": int(fold.train.sum()), **summarise(scores, test)})
    return rows, held_out


def mean_of(rows: list[dict[str, Any]]) -> dict[str, float]:
    return iso30107.fold_mean([r["faces"] for r in rows])


def print_protocol(protocol: str, rows: list[dict[str, Any]]) -> None:
    click.echo(f"\n{protocol} (threshold {THRESHOLD} fixed on the training side)")
    click.echo(iso30107.fold_table_head())
    for r in rows:
        click.echo(iso30107.fold_line(r["fold"], r["faces"]))
        for clip in r.get("clips", []):
            verdict = "right" if clip["right"] else "WRONG"
            click.echo(f"    clip {clip['clip']}: score {clip['score']:.3f} {verdict}")
    click.echo(iso30107.fold_mean_line(mean_of(rows)))


def features_cached(cache: Path, faces: data.Faces) -> FloatArray:
    digest = hashlib.sha256(faces.crops.tobytes()).hexdigest()[:16]
    path = cache / f"features-{digest}.npy"
    if path.is_file():
        x = np.load(path)
        if x.shape == (len(faces), N_FEATURES):
            return np.asarray(x, dtype=np.float64)
    x = np.stack([features(c) for c in tqdm(faces.crops, desc="features", unit="face")])
    np.save(path, x)
    return x


@click.command()
@click.option(
    "--data",
    "data_root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="Folder holding nuaa/, replay-dev/ and replay-more/ (../shared/data).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("services/texture/models"),
    show_default=True,
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".cache/texture"),
    show_default=True,
    help="Face crops and features of the training sets (never request images).",
)
@click.option(
    "--protocol",
    "protocols",
    type=click.Choice(PROTOCOLS),
    multiple=True,
    help="Protocols to run (default: all).",
)
@click.option("--c", "c", type=float, default=C, show_default=True, help="Inverse L2 strength.")
@click.option("--jobs", type=int, default=2, show_default=True, help="Processes for face detection.")
@click.option("--no-save", is_flag=True, help="Validate only; write no artifact.")
@click.option("--no-validation", is_flag=True, help="Run no protocol; only fit and write the artifact.")
@click.option(
    "--hold-out",
    "hold_out",
    default="",
    help="Leave out the domains starting with this (e.g. replay-more) from everything: the artifact "
    "then scores that data as unseen (what `liveness calibrate` needs).",
)
def cli(
    data_root: Path,
    out: Path,
    cache: Path,
    protocols: tuple[str, ...],
    c: float,
    jobs: int,
    no_save: bool,
    no_validation: bool,
    hold_out: str,
) -> None:
    """Train the colour-texture test; print and save its cross-session and cross-source validation."""
    np.random.seed(SEED)
    started = time.time()
    faces = data.cached(cache, data_root, jobs)
    x = features_cached(cache, faces)
    if hold_out:
        keep = ~np.char.startswith(faces.domain, hold_out)
        if keep.all() or not keep.any():
            raise click.BadParameter(f"--hold-out {hold_out!r} matches none or all of the domains")
        faces, x = faces.take(keep), x[keep]
    report: dict[str, Any] = {
        "version": VERSION,
        "c": c,
        "threshold": THRESHOLD,
        "faces": len(faces),
        "protocols": {},
    }
    oof_rows: list[dict[str, Any]] = []
    for protocol in () if no_validation else protocols or PROTOCOLS:
        rows, held = run_protocol(protocol, x, faces, c)
        print_protocol(protocol, rows)
        report["protocols"][protocol] = {"mean": mean_of(rows), "folds": rows}
        for i in np.flatnonzero(~np.isnan(held)):
            oof_rows.append(
                {
                    "protocol": protocol,
                    "domain": faces.domain[i],
                    "clip": faces.clip[i],
                    "label": "live" if faces.live[i] else "spoof",
                    "attack": faces.attack[i],
                    "texture": f"{held[i]:.6f}",
                }
            )
    if oof_rows:
        with (cache / "oof_scores.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(oof_rows[0]))
            writer.writeheader()
            writer.writerows(oof_rows)
        click.echo(f"\nheld-out scores in {cache / 'oof_scores.csv'}")
    if no_save:
        return
    model = fit_calibrated(x, faces.live, faces.domain, c)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / ARTIFACT)
    report["artifacts"] = training.digests(out / ARTIFACT)
    report["platt"] = {"slope": model.platt_slope, "offset": model.platt_offset}
    used = [n for n, w in zip(FEATURE_NAMES, model.coef, strict=True) if w != 0]
    report["features_used"] = {
        "count": len(used),
        "of": N_FEATURES,
        "lbp": sum(n.startswith("lbp_") for n in used),
        "coalbp": sum(n.startswith("coalbp_") for n in used),
        "distortion": [n for n in used if n in DISTORTION_NAMES],
    }
    click.echo(
        f"{len(used)} of {N_FEATURES} features used; distortion: {report['features_used']['distortion']}"
    )
    report["hold_out"] = hold_out
    report["train_seconds"] = round(time.time() - started, 1)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    click.echo(f"wrote {out / ARTIFACT} ({(out / ARTIFACT).stat().st_size} bytes) and metrics.json")


if __name__ == "__main__":
    cli()
