"""DET and ROC curves and score histograms as PNG files (matplotlib, Agg backend, imported lazily).

matplotlib is only needed here, so importing `liveness.plots` costs nothing until a plot is drawn; the
backend is forced to Agg so plotting works on headless servers and in CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from liveness import iso30107

# DET axes are probit-scaled between these error rates; rates of 0 or 1 are clipped to the edges.
DET_MIN_RATE = 1e-3
DET_MAX_RATE = 0.999
DET_TICKS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def probit(rates: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Standard normal quantiles of error rates (clipped to the DET range), the DET plot's axis scale."""
    clipped = np.clip(np.asarray(rates, dtype=np.float64), DET_MIN_RATE, DET_MAX_RATE)
    inv = NormalDist().inv_cdf
    return np.array([inv(float(r)) for r in clipped.ravel()]).reshape(clipped.shape)


def det_plot(curves: Mapping[str, iso30107.Curve], path: Path, title: str = "DET") -> Path:
    """APCER against BPCER on probit axes, one line per named curve; the diagonal marks the EER points."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    try:
        for name, c in curves.items():
            ax.plot(probit(c.apcer), probit(c.bpcer), label=name, linewidth=1.5)
        ticks = [t for t in DET_TICKS if DET_MIN_RATE <= t <= DET_MAX_RATE]
        edge = probit([DET_MIN_RATE, DET_MAX_RATE])
        ax.plot(edge, edge, color="grey", linestyle=":", linewidth=0.8, label="EER line")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_ticks(probit(ticks))
            axis.set_ticklabels([f"{100 * t:g}" for t in ticks])
        ax.set_xlim(*edge)
        ax.set_ylim(*edge)
        ax.set_xlabel("APCER (%)")
        ax.set_ylabel("BPCER (%)")
        ax.set_title(title)
        ax.grid(True, linewidth=0.4)
        ax.legend(loc="upper right", fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def roc_plot(curves: Mapping[str, iso30107.Curve], path: Path, title: str = "ROC") -> Path:
    """Bona fide acceptance (1 - BPCER) against APCER, linear axes, AUC in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    try:
        for name, c in curves.items():
            x = c.apcer[::-1]
            y = (1.0 - c.bpcer)[::-1]
            area = float(np.trapezoid(y, x))
            ax.plot(x, y, label=f"{name} (AUC {area:.3f})", linewidth=1.5)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("APCER (attacks accepted)")
        ax.set_ylabel("1 - BPCER (bona fide accepted)")
        ax.set_title(title)
        ax.grid(True, linewidth=0.4)
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def histogram_plot(
    scores: Sequence[float] | npt.ArrayLike,
    classes: Sequence[str],
    path: Path,
    threshold: float | None = None,
    title: str = "Scores by class",
    bins: int = 25,
) -> Path:
    """Score histograms per class (bona fide and each attack species) over [0, 1], threshold as a line."""
    plt = _pyplot()
    values = np.asarray(scores, dtype=np.float64)
    names = np.asarray(list(classes), dtype=np.str_)
    if values.shape != names.shape:
        raise ValueError(f"{values.size} scores for {names.size} class names")
    lo = min(0.0, float(values.min(initial=0.0)))
    hi = max(1.0, float(values.max(initial=1.0)))
    edges = np.linspace(lo, hi, bins + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4.0), dpi=110)
    try:
        order = sorted(set(names.tolist()), key=lambda n: (n != iso30107.BONA_FIDE, n))
        for name in order:
            label = "bona fide" if name == iso30107.BONA_FIDE else name
            subset = values[names == name]
            ax.hist(subset, bins=edges, alpha=0.55, label=f"{label} (n={subset.size})")
        if threshold is not None:
            ax.axvline(
                threshold, color="black", linestyle="--", linewidth=1.0, label=f"threshold {threshold:.3f}"
            )
        ax.set_xlabel("score = P(live)")
        ax.set_ylabel("presentations")
        ax.set_title(title)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
