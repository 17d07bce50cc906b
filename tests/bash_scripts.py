"""The checks every bash script of the repository passes (deploy and data scripts alike)."""

from __future__ import annotations

import subprocess
from pathlib import Path

MACHINE_DIRS = tuple(f"/{d}/" for d in ("work", "home", "root"))


def check_bash_script(path: Path) -> None:
    """Assert that `path` is executable, parses, starts with the env shebang and `set -euo pipefail`, and
    names no absolute machine path."""
    assert path.stat().st_mode & 0o111, f"{path.name} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert not any(d in text for d in MACHINE_DIRS), "no absolute machine paths"
