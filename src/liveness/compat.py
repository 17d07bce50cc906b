"""The contract's style and wire compatibility, checked by buf; plus the one check buf cannot make.

Tests and the gateway are upgraded one at a time, so a new build must talk to the previous release in both
directions. buf (the npm package @bufbuild/buf, pinned in tools/buf/package-lock.json, installed by
liveness.npmtools) does the descriptor comparison: `buf breaking` with the FILE rules of buf.yaml against
every release baseline in protos/compat/ (a renumbered, retyped, renamed, re-carded or unreserved removed
field, a changed oneof or JSON name, an enum value removed, renumbered or renamed, a released reservation, an
RPC, message, enum or service removed or changed), and `buf lint` the style (buf.yaml lists the exceptions).

What buf cannot check, kept here: Python's domain enums mirror the proto's value for value
(`mirror_problems`). runtime.convert maps liveness.types.Status, Decision and Action to and from the proto
by name, so a value added to the proto alone would pass buf and then fail at run time on the first message
that carries it.

`python -m liveness.compat check` runs all of it; `python -m liveness.compat snapshot VERSION` writes a
release's baseline (buf build, without source info: comments may change freely).
"""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from google.protobuf.descriptor import EnumDescriptor

from liveness import npmtools, types
from liveness.v1 import liveness_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
COMPAT = PROTOS / "compat"
BUF_CONFIG = ROOT / "buf.yaml"
BUF_TOOL = ROOT / "tools" / "buf"
BASELINE_SUFFIX = ".binpb"

# (proto enum, domain enum) pairs converted by name: proto value <PREFIX>_<NAME> <-> domain member NAME.
MIRRORED: tuple[tuple[EnumDescriptor, type[enum.Enum]], ...] = (
    (pb.Status.DESCRIPTOR, types.Status),
    (pb.Decision.DESCRIPTOR, types.Decision),
    (pb.Action.DESCRIPTOR, types.Action),
)


def buf(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run the pinned buf from the repository root (installing it first when needed)."""
    exe = npmtools.ensure(BUF_TOOL) / "buf"
    return subprocess.run(
        [str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _findings(done: subprocess.CompletedProcess[str]) -> list[str]:
    """`RULE: message` per finding of a buf run (--error-format json); RuntimeError when buf itself failed."""
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode not in (0, 100) or (done.returncode == 100 and not lines):
        raise RuntimeError(
            f"buf failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    found = []
    for line in lines:
        item = json.loads(line)
        where = f"{item.get('path', '')}:{item.get('start_line', 0)}"
        found.append(f"{item['type']}: {item['message']} ({where})")
    return found


def lint() -> list[str]:
    """buf lint findings on protos/ (buf.yaml's rules); [] when clean."""
    return _findings(buf("lint", "--error-format", "json"))


def breaking(against: Path, source: Path | None = None) -> list[str]:
    """buf breaking findings against the baseline `against`, of protos/ (None), of another buf workspace
    (a folder with its own buf.yaml) or of a .binpb descriptor set (judged by this repository's buf.yaml)."""
    if source is None:
        inputs = ["."]
    elif source.is_dir():
        inputs = [str(source)]
    else:
        inputs = [str(source), "--config", str(BUF_CONFIG)]
    return _findings(buf("breaking", *inputs, "--against", str(against), "--error-format", "json"))


def baselines(compat_dir: Path = COMPAT) -> list[Path]:
    """Committed release baselines, oldest first (by version number in the name: liveness-v1-0.1.0.binpb)."""

    def version(path: Path) -> tuple[int, ...]:
        raw = path.name.removesuffix(BASELINE_SUFFIX).rsplit("-", 1)[-1]
        return tuple(int(part) for part in raw.split("."))

    return sorted(compat_dir.glob(f"*{BASELINE_SUFFIX}"), key=version)


def mirror_problems(pairs: Iterable[tuple[EnumDescriptor, type[enum.Enum]]] = MIRRORED) -> list[str]:
    """Where a proto enum and its domain mirror differ (besides the proto's <PREFIX>_UNSPECIFIED)."""
    problems = []
    for proto, domain in pairs:
        unspecified = next(v.name for v in proto.values if v.number == 0)
        prefix = unspecified.removesuffix("UNSPECIFIED")
        names = {v.name.removeprefix(prefix) for v in proto.values if v.number != 0}
        members = set(domain.__members__)
        for name in sorted(names - members):
            problems.append(f"{proto.full_name}: {prefix}{name} has no {domain.__name__}.{name}")
        for name in sorted(members - names):
            problems.append(f"{domain.__name__}.{name} has no {proto.full_name} value {prefix}{name}")
    return problems


def snapshot(version: str, compat_dir: Path = COMPAT) -> Path:
    """Write the current contract's descriptors as the baseline of release `version`."""
    compat_dir.mkdir(parents=True, exist_ok=True)
    path = compat_dir / f"liveness-v1-{version}{BASELINE_SUFFIX}"
    done = buf("build", str(PROTOS), "--exclude-source-info", "--as-file-descriptor-set", "-o", str(path))
    if done.returncode != 0:
        raise RuntimeError(f"buf build failed: {done.stderr.strip()}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m liveness.compat check` (lint, every baseline, enum mirrors) or `snapshot VERSION`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["snapshot"] and len(args) == 2:
        print(snapshot(args[1]).relative_to(ROOT))
        return 0
    if args == ["check"]:
        results = {"buf lint": lint(), "enum mirrors": mirror_problems()}
        results.update({path.name: breaking(path) for path in baselines()})
        for name, problems in results.items():
            for problem in problems:
                print(f"{name}: {problem}")
            if not problems:
                print(f"{name}: ok")
        return 1 if any(results.values()) else 0
    print("usage: python -m liveness.compat check | snapshot VERSION", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
