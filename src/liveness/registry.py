"""The registry of liveness tests: every test package declares itself once, and everything else reads it.

A test package exports a `TestSpec` and names it in the `liveness.tests` entry-point group of its
distribution (for this project, pyproject.toml):

    [project.entry-points."liveness.tests"]
    iqa = "iqa:TEST"

The CLI (`liveness serve`, `liveness tests`), the local stack, the gateway's default config, the dev CA, the
reliability harness and the deploy scripts (`python -m liveness.registry`) list the tests from here. Reading
the registry imports only each package's `__init__` (where the spec lives); the model and its settings are
named as "module:attribute" and imported when a test is built or served.

An image holds one service and no distribution metadata, so there the registry is empty: a served test
runs from its own package (`python -m <name>`), and the gateway reads its config file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liveness.types import LivenessModel

GROUP = "liveness.tests"


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True, slots=True)
class TestSpec:
    """One test as its package declares it.

    name: the service name (package, image liveness-<name>, `<NAME>_*` settings, gateway endpoint).
    port: its loopback port in the local stack and the gateway's packaged default config (50061 up); the
        registry lists tests in port order, which is also the order the gateway reports them.
    summary: one line for `liveness tests` and the docs.
    model, settings: "module:Class" of the pure model (built as `Model(settings)`) and of its settings
        dataclass, whose `from_env()` reads the `<NAME>_*` environment variables.
    """

    __test__ = False  # not a pytest test class despite the name

    name: str
    port: int
    summary: str
    model: str
    settings: str

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"test name {self.name!r}: must be a lower-case Python identifier")
        if not 1024 <= self.port <= 65535:
            raise ValueError(f"test {self.name}: port {self.port} is outside 1024-65535")
        for field_name in ("model", "settings"):
            target = getattr(self, field_name)
            if target.count(":") != 1 or not all(target.split(":")):
                raise ValueError(f"test {self.name}: {field_name} must be 'module:attribute', got {target!r}")

    def model_class(self) -> Callable[[Any], LivenessModel]:
        return _resolve(self.model)  # type: ignore[no-any-return]

    def settings_class(self) -> Any:
        return _resolve(self.settings)

    def settings_from_env(self, env: Mapping[str, str] = os.environ) -> Any:
        return self.settings_class().from_env(env)

    def build(self, settings: Any = None) -> LivenessModel:
        """The model with `settings` (default: from the environment)."""
        return self.model_class()(self.settings_from_env() if settings is None else settings)

    def serve(self) -> None:
        """Serve the test with the shared runtime until signalled (settings from the environment)."""
        from liveness.runtime.server import serve_test

        serve_test(self.name, self.build)


class UnknownTest(KeyError):
    """A name that no installed package registers."""

    def __str__(self) -> str:
        return str(self.args[0])


def tests() -> tuple[TestSpec, ...]:
    """Every registered test, in port order. Read afresh on each call (a few ms), so a package put on
    sys.path at run time (a test fixture) is seen; an entry that does not load or disagrees is an error."""
    found: dict[str, TestSpec] = {}
    for entry in importlib.metadata.entry_points(group=GROUP):
        if entry.name in found:  # importlib.metadata already keeps one copy of each distribution
            raise ValueError(f"{GROUP}: two distributions register a test named {entry.name!r}")
        try:
            spec = entry.load()
        except Exception as exc:
            raise RuntimeError(
                f"{GROUP} entry {entry.name} = {entry.value!r} does not load: {exc!r}"
            ) from None
        if not isinstance(spec, TestSpec):
            raise TypeError(f"{GROUP} entry {entry.name} = {entry.value!r} is not a TestSpec")
        if spec.name != entry.name:
            raise ValueError(f"{GROUP} entry {entry.name} declares a test named {spec.name!r}")
        found[entry.name] = spec
    ordered = tuple(sorted(found.values(), key=lambda s: (s.port, s.name)))
    ports = [s.port for s in ordered]
    if len(set(ports)) != len(ports):
        clash = sorted({f"{s.name}:{s.port}" for s in ordered if ports.count(s.port) > 1})
        raise ValueError(f"registered tests share a port: {clash}")
    return ordered


def names() -> tuple[str, ...]:
    """The registered tests' names, in port order."""
    return tuple(s.name for s in tests())


def get(name: str) -> TestSpec:
    for spec in tests():
        if spec.name == name:
            return spec
    raise UnknownTest(f"no registered liveness test {name!r} (registered: {', '.join(names()) or 'none'})")


def main(argv: list[str] | None = None) -> int:
    """`python -m liveness.registry [--ports]`: one registered test per line (with its port), for scripts.
    Exits 1 with a message when none is registered (the project is not installed: `make install`)."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--ports"]):
        print("usage: python -m liveness.registry [--ports]", file=sys.stderr)
        return 2
    found = tests()
    if not found:
        print(f"no liveness tests registered ({GROUP} entry points): install the project", file=sys.stderr)
        return 1
    for spec in found:
        print(f"{spec.name} {spec.port}" if args else spec.name)
    return 0


if __name__ == "__main__":
    # Run as `python -m`, this file is `__main__`: take TestSpec and the rest from the imported module, the
    # one the test packages import.
    from liveness.registry import main as registry_main

    sys.exit(registry_main())
