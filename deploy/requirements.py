"""Print the serving requirements of the images: pyproject.toml's core dependencies, one per line.

The images install exactly these (plus face_recognition without its dependencies, as the Makefile does),
never the [train] or [test] extras, so TensorFlow never reaches a serving image.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def serving_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The `[project] dependencies` of `pyproject`, in file order."""
    with pyproject.open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


if __name__ == "__main__":
    sys.stdout.write("".join(f"{req}\n" for req in serving_requirements()))
