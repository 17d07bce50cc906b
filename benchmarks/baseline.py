"""A baseline commit of this repository, extracted to a temporary folder, for side-by-side benchmarks.

`git archive REV | tar -x` (no worktree metadata, no checkout in any existing tree); `pythonpath(root)` is
the PYTHONPATH that makes a Python process import that commit's packages instead of this tree's.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = (
    "src",
    "services/iqa",
    "services/cnn2d",
    "services/temporal",
    "services/voxel3d",
    "services/texture",
    "services/gateway",
)
BASELINE_REV = "f9a8225"  # main before the coarse-first face search (issue 25; 40b092d: before face tracking)


@contextmanager
def extracted(rev: str) -> Iterator[Path]:
    """The tree of commit `rev` in a temporary folder, removed afterwards."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev], capture_output=True, check=True
    ).stdout
    root = Path(tempfile.mkdtemp(prefix=f"baseline-{rev}-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pythonpath(root: Path) -> str:
    """PYTHONPATH that imports the packages of the tree at `root` (and the repository root, for tests/)."""
    return ":".join([*(str(root / p) for p in PACKAGE_ROOTS), str(root)])
