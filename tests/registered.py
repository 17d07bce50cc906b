"""A throwaway test package registered the way an installed one is: a package and a `*.dist-info` folder
with a `liveness.tests` entry point, in a folder put first on sys.path and on PYTHONPATH (so the processes
the local stack starts see it too). Nothing shared is edited: pyproject.toml, the gateway config and the
CLI stay as they are.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE = '''\
"""{name}: a throwaway liveness test answering a fixed score (THROWAWAY_SCORE), for the registry tests."""

import os
from dataclasses import dataclass

from liveness.registry import TestSpec
from liveness.types import Status, TestInfo, TestResult


@dataclass(frozen=True)
class Settings:
    score: float = 0.7

    @classmethod
    def from_env(cls, env=os.environ):
        return cls(float(env.get("THROWAWAY_SCORE", "0.7")))


class Model:
    def __init__(self, settings):
        self.settings = settings

    @property
    def info(self):
        return TestInfo(
            name="{name}", version="throwaway-1", accepts_image=True, accepts_clip=True, max_frames=4,
            needs_face=False, model_card="a throwaway test of the registry",
        )

    def check(self, media, faces, options):
        return TestResult(self.settings.score, Status.OK, "fixed score")

    def warmup(self):
        return None


TEST = TestSpec(
    name="{name}", port={port}, summary="a throwaway test", model="{name}:Model", settings="{name}:Settings"
)
'''


def write_distribution(site: Path, dist: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """Write modules (name -> source) and a dist-info declaring `entries` in the liveness.tests group."""
    for module, source in modules.items():
        (site / module).mkdir(parents=True)
        (site / module / "__init__.py").write_text(source)
    info = site / f"{dist}-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[liveness.tests]\n{lines}")


@contextmanager
def on_path(site: Path, modules: tuple[str, ...]) -> Iterator[Path]:
    """`site` first on sys.path and PYTHONPATH while inside; both restored and its modules forgotten after."""
    saved_path, saved_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), saved_env]))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        sys.path[:] = saved_path
        if saved_env is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_env
        for module in modules:
            sys.modules.pop(module, None)
        importlib.invalidate_caches()


def throwaway_package(site: Path, port: int, name: str = "throwaway") -> None:
    """The throwaway test `name` on loopback port `port`, as its own distribution."""
    write_distribution(
        site, f"{name}-dist", {name: f"{name}:TEST"}, {name: PACKAGE.format(name=name, port=port)}
    )
