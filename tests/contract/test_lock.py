"""The lockfiles that `make demo` and `make test` install from: complete, consistent, and what is installed.

requirements/serve.txt and requirements/test.txt are made by scripts/lock.sh (`make lock`) from
pyproject.toml; a dependency added to pyproject without refreshing them fails here, and so does an
environment that drifted from them.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def pins(name: str) -> dict[str, str]:
    text = (REPO / "requirements" / name).read_text()
    found = {canonicalize_name(m[1]): m[2] for line in text.splitlines() if (m := PIN.match(line))}
    assert found, f"requirements/{name} pins nothing"
    assert text.count("--hash=sha256:") >= len(found), f"requirements/{name}: every pin needs its hashes"
    return found


def project() -> dict[str, list[Requirement]]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = data["optional-dependencies"]
    return {
        "serve.txt": [Requirement(r) for r in data["dependencies"]],
        "test.txt": [Requirement(r) for r in [*data["dependencies"], *extras["test"], *extras["train"]]],
    }


@pytest.mark.parametrize("lock", ["serve.txt", "test.txt"])
def test_every_pyproject_requirement_is_pinned_within_its_range(lock: str) -> None:
    pinned = pins(lock)
    for req in project()[lock]:
        name = canonicalize_name(req.name)
        assert name in pinned, (
            f"{req.name} is in pyproject.toml but not in requirements/{lock}: run make lock"
        )
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]}, outside pyproject's {req.specifier}: "
            "run make lock"
        )


def test_serving_lock_agrees_with_the_test_lock() -> None:
    serve, test = pins("serve.txt"), pins("test.txt")
    assert set(serve) <= set(test)
    assert {n: v for n, v in serve.items() if test[n] != v} == {}


def test_face_recognition_is_locked_without_the_dlib_sdist() -> None:
    serve = pins("serve.txt")
    assert "face-recognition" in serve and "dlib-bin" in serve and "dlib" not in serve


def test_this_environment_is_the_locked_one() -> None:
    """What the tests run on is what a fresh `make test` installs (versions equal the lock's)."""
    drift = {}
    for name, version in pins("test.txt").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift[name] = ("missing", version)
            continue
        if installed != version:
            drift[name] = (installed, version)
    assert drift == {}, f"installed != locked (installed, locked): {drift}; reinstall with make test"
