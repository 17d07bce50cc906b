"""Regenerate the committed Python stubs from protos/: `python -m liveness.protogen` (or `make proto`).

tests/contract/test_stubs.py runs the same generation into a temporary folder and fails when the committed
stubs differ, so they cannot go stale.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
PROTO_FILES = ("liveness/v1/liveness.proto",)


def run_protoc(outputs: Sequence[str], proto_root: Path = PROTOS, files: Sequence[str] = PROTO_FILES) -> None:
    """Run grpc_tools.protoc with output flags `outputs` over `files`, in a child process.

    A child process, because calling protoc.main twice in one interpreter can crash it (segfault seen when the
    stub and compatibility tests ran in one pytest process).
    """
    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"
    args = [f"-I{proto_root}", f"-I{include}", *outputs, *(str(proto_root / f) for f in files)]
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed on {list(files)}: {done.stderr.strip()}")


def generate(out_dir: Path) -> list[Path]:
    """Generate the Python stubs (messages, .pyi, gRPC) of every contract file into `out_dir`."""
    run_protoc([f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"])
    return sorted(p for p in out_dir.rglob("*_pb2*.py*"))


def main() -> int:
    written = generate(ROOT / "src")
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
