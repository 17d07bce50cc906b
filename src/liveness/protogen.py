"""Regenerate the committed Python stubs from protos/: `python -m liveness.protogen` (or `make proto`).

tests/contract/test_stubs.py runs the same generation into a temporary folder and fails when the committed
stubs differ, so they cannot go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
PROTO_FILES = ("liveness/v1/liveness.proto",)


def generate(out_dir: Path) -> list[Path]:
    """Run grpc_tools.protoc over every contract file into `out_dir`; return the files written."""
    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(PROTOS / f) for f in PROTO_FILES),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see its message above")
    return sorted(p for p in out_dir.rglob("*_pb2*.py*"))


def main() -> int:
    written = generate(ROOT / "src")
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
