"""Node tools for the tests: install a folder's locked npm packages, or skip (fail under CI) without node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from liveness import npmtools


def require_npm_packages(folder: Path) -> Path:
    """`folder`'s node_modules/.bin after `npm ci` when needed. Without node or npm the test skips and says
    why, except under CI (CI=true), which installs them (.ci/run) and must run these tests: there it fails."""
    try:
        return npmtools.ensure(folder)
    except npmtools.NodeMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Node is missing: {exc}")
        pytest.skip(f"needs Node: {exc}")
