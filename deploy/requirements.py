"""Print the serving requirements of the images, one per line: pyproject.toml's core dependencies without
the ones only training, evaluation and calibration import.

The images install exactly these (plus face_recognition without its dependencies, as the Makefile does),
never the [train] or [test] extras, so TensorFlow never reaches a serving image. scikit-image and
scikit-learn (with SciPy, networkx and the rest they pull in, about 300 MB) are left out: no module that a
service's entry point can import, even lazily, imports them; tests/deploy/test_images.py follows the
imports from each entry point and fails if that changes.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Distribution name -> why a serving image does without it.
TRAINING_ONLY = {
    "scikit-image": "imported by training, evaluation and data tools only",
    "scikit-learn": "models ship as ONNX/npz: fitting and calibration (liveness calibrate) only",
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def serving_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The `[project] dependencies` of `pyproject` minus TRAINING_ONLY, in file order."""
    with pyproject.open("rb") as fh:
        core = tomllib.load(fh)["project"]["dependencies"]
    return [req for req in core if _name(req) not in TRAINING_ONLY]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{req}\n" for req in serving_requirements()))
