"""Node packages the project pins in npm lockfiles (tools/buf, clients/node), installed on first use.

`ensure(folder)` runs `npm ci` there when its node_modules was not installed from the current
package-lock.json, and returns node_modules/.bin. Only the npm registry is needed; install scripts are not
run (none of the pinned packages needs one). Node and npm come from Debian's `nodejs` and `npm` packages;
without them `NodeMissing` says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

STAMP = ".installed-from-lock"


class NodeMissing(RuntimeError):
    """node or npm is not installed."""


def node() -> str:
    """The path of `node`; NodeMissing when it is not installed."""
    found = shutil.which("node")
    if found is None:
        raise NodeMissing(
            "node not found: install Debian's nodejs and npm packages (apt-get install nodejs npm)"
        )
    return found


def ensure(folder: Path, timeout_s: float = 300.0) -> Path:
    """Install `folder`'s locked npm packages unless they already are; return its node_modules/.bin."""
    node()
    npm = shutil.which("npm")
    if npm is None:
        raise NodeMissing("npm not found: install Debian's npm package (apt-get install npm)")
    lock = folder / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    modules = folder / "node_modules"
    stamp = modules / STAMP
    with open(folder / "package.json", "rb") as guard:  # one `npm ci` at a time per folder
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == digest):
            done = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
            if done.returncode != 0:
                raise RuntimeError(f"npm ci in {folder.name} failed: {done.stderr.strip()[-2000:]}")
            stamp.write_text(digest)
    return modules / ".bin"
