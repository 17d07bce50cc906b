"""The committed stubs are exactly what protoc makes from protos/ today."""

from __future__ import annotations

from pathlib import Path

from liveness import protogen


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    written = protogen.generate(tmp_path)
    assert written, "protoc wrote nothing"
    committed = protogen.ROOT / "src"
    for path in written:
        rel = path.relative_to(tmp_path)
        assert (committed / rel).read_bytes() == path.read_bytes(), (
            f"{rel} is stale: run `make proto` (python -m liveness.protogen) and commit the result"
        )


def test_contract_conventions() -> None:
    from liveness.v1 import liveness_pb2 as pb

    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        zero = enum.values_by_number[0].name
        assert zero.endswith("_UNSPECIFIED"), f"{enum.name} zero value is {zero}"
    assert pb.DESCRIPTOR.package == "liveness.v1"
    assert set(pb.DESCRIPTOR.services_by_name) == {"LivenessTest", "Liveness"}
