"""protos/ stays wire-compatible with every release and lint-clean, by buf; the enum mirrors by compat.

buf (tools/buf, installed from its lockfile by `npm ci` on first use) runs `buf lint` and `buf breaking`
(FILE rules, buf.yaml) against each baseline in protos/compat/. The catalogue below makes each kind of
breaking edit on a copy of the 0.1.0 baseline and asserts that buf names it by rule, so a weaker buf.yaml
(WIRE instead of FILE, say) fails here; additive edits must pass. What buf cannot check, the Python domain
enums mirroring the proto's (runtime.convert maps them by name), is compat.mirror_problems, tested last.

Without node/npm these tests skip, saying so; with CI=true they fail instead.
"""

from __future__ import annotations

import enum
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2 as d

from gateway.policy import Outcome
from liveness import compat
from liveness.v1 import liveness_pb2 as pb
from tests.npm import require_npm_packages

_F = d.FieldDescriptorProto


@pytest.fixture(scope="module", autouse=True)
def buf_installed() -> None:
    require_npm_packages(compat.BUF_TOOL)


@pytest.fixture(scope="module")
def baseline_path() -> Path:
    paths = compat.baselines()
    assert paths, "no release baseline under protos/compat/"
    return paths[-1]


@pytest.fixture(scope="module")
def baseline(baseline_path: Path) -> d.FileDescriptorSet:
    return d.FileDescriptorSet.FromString(baseline_path.read_bytes())


def _copy(fds: d.FileDescriptorSet) -> d.FileDescriptorSet:
    out = d.FileDescriptorSet()
    out.CopyFrom(fds)
    return out


def _file(fds: d.FileDescriptorSet) -> d.FileDescriptorProto:
    (file,) = [f for f in fds.file if f.package == "liveness.v1"]
    return file


def _message(fds: d.FileDescriptorSet, name: str) -> d.DescriptorProto:
    return next(m for m in _file(fds).message_type if m.name == name)


def _field(fds: d.FileDescriptorSet, message: str, field: str) -> d.FieldDescriptorProto:
    return next(f for f in _message(fds, message).field if f.name == field)


def _enum(fds: d.FileDescriptorSet, name: str) -> d.EnumDescriptorProto:
    return next(e for e in _file(fds).enum_type if e.name == name)


def _method(fds: d.FileDescriptorSet, service: str, method: str) -> d.MethodDescriptorProto:
    svc = next(s for s in _file(fds).service if s.name == service)
    return next(m for m in svc.method if m.name == method)


def test_baseline_is_release_0_1_0_of_liveness_v1(baseline: d.FileDescriptorSet) -> None:
    assert compat.baselines()[0].name == "liveness-v1-0.1.0.binpb"
    file = _file(baseline)
    assert {s.name for s in file.service} >= {"LivenessTest", "Liveness"}
    assert {m.name for m in _file(baseline).service[0].method} >= {"Check", "Describe"}


def test_contract_is_lint_clean() -> None:
    assert compat.lint() == []


def test_current_contract_is_compatible_with_every_release() -> None:
    for path in compat.baselines():
        problems = compat.breaking(path)
        assert problems == [], f"protos/ breaks release {path.name}:\n" + "\n".join(problems)


def _breaking(tmp_path: Path, baseline_path: Path, changed: d.FileDescriptorSet) -> list[str]:
    path = tmp_path / "changed.binpb"
    path.write_bytes(changed.SerializeToString())
    return compat.breaking(baseline_path, path)


def test_identical_sets_are_compatible(
    tmp_path: Path, baseline_path: Path, baseline: d.FileDescriptorSet
) -> None:
    assert _breaking(tmp_path, baseline_path, _copy(baseline)) == []


def _renumber(fds: d.FileDescriptorSet) -> None:
    _field(fds, "Image", "data").number = 7


def _retype(fds: d.FileDescriptorSet) -> None:
    _field(fds, "Frame", "timestamp_ms").type = _F.TYPE_INT32


def _retype_message(fds: d.FileDescriptorSet) -> None:
    _field(fds, "Frame", "image").type_name = ".liveness.v1.Clip"


def _remove_unreserved(fds: d.FileDescriptorSet) -> None:
    message = _message(fds, "Frame")
    keep = [f for f in message.field if f.name != "timestamp_ms"]
    del message.field[:]
    message.field.extend(keep)


def _rename_field(fds: d.FileDescriptorSet) -> None:
    field = _field(fds, "Frame", "timestamp_ms")
    field.name = "time_ms"
    field.json_name = "timeMs"


def _make_repeated(fds: d.FileDescriptorSet) -> None:
    _field(fds, "Image", "data").label = _F.LABEL_REPEATED


def _leave_oneof(fds: d.FileDescriptorSet) -> None:
    _field(fds, "Media", "clip").ClearField("oneof_index")


def _enum_renumber(fds: d.FileDescriptorSet) -> None:
    enum = next(e for e in _file(fds).enum_type if len(e.value) > 1)
    enum.value[1].number = 99


def _enum_remove(fds: d.FileDescriptorSet) -> None:
    enum = next(e for e in _file(fds).enum_type if len(e.value) > 1)
    del enum.value[-1]


def _enum_rename(fds: d.FileDescriptorSet) -> None:
    enum = next(e for e in _file(fds).enum_type if len(e.value) > 1)
    enum.value[-1].name += "_RENAMED"


def _rpc_request(fds: d.FileDescriptorSet) -> None:
    _method(fds, "LivenessTest", "Check").input_type = ".liveness.v1.DescribeRequest"


def _rpc_response(fds: d.FileDescriptorSet) -> None:
    _method(fds, "LivenessTest", "Describe").output_type = ".liveness.v1.CheckResponse"


def _rpc_streaming(fds: d.FileDescriptorSet) -> None:
    _method(fds, "LivenessTest", "Check").server_streaming = True


def _rpc_remove(fds: d.FileDescriptorSet) -> None:
    svc = next(s for s in _file(fds).service if s.name == "LivenessTest")
    keep = [m for m in svc.method if m.name != "Describe"]
    del svc.method[:]
    svc.method.extend(keep)


def _service_remove(fds: d.FileDescriptorSet) -> None:
    file = _file(fds)
    keep = [s for s in file.service if s.name != "Liveness"]
    del file.service[:]
    file.service.extend(keep)


def _message_remove(fds: d.FileDescriptorSet) -> None:
    """Point goes, and with it the one field that uses it (buf refuses a set with a dangling type)."""
    file = _file(fds)
    keep = [m for m in file.message_type if m.name != "Point"]
    del file.message_type[:]
    file.message_type.extend(keep)
    region = _message(fds, "FaceRegion")
    fields = [f for f in region.field if f.type_name != ".liveness.v1.Point"]
    del region.field[:]
    region.field.extend(fields)


def _package_rename(fds: d.FileDescriptorSet) -> None:
    file = _file(fds)
    file.package = "liveness.v2"
    for message in file.message_type:
        for field in message.field:
            field.type_name = field.type_name.replace(".liveness.v1.", ".liveness.v2.")
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(".liveness.v1.", ".liveness.v2.")
            method.output_type = method.output_type.replace(".liveness.v1.", ".liveness.v2.")


BREAKING: dict[str, tuple[Callable[[d.FileDescriptorSet], None], str]] = {
    "field renumbered": (_renumber, 'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED: Previously present field "1"'),
    "scalar retyped": (_retype, "FIELD_SAME_TYPE"),
    "message field retyped": (_retype_message, "FIELD_SAME_TYPE"),
    "field removed, not reserved": (
        _remove_unreserved,
        'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED: Previously present field "2"',
    ),
    "field renamed": (_rename_field, "FIELD_SAME_NAME"),
    "singular made repeated": (_make_repeated, "FIELD_SAME_CARDINALITY"),
    "field moved out of a oneof": (_leave_oneof, "FIELD_SAME_ONEOF"),
    "enum value renumbered": (_enum_renumber, "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"),
    "enum value removed": (_enum_remove, "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"),
    "enum value renamed": (_enum_rename, "ENUM_VALUE_SAME_NAME"),
    "rpc request type changed": (_rpc_request, "RPC_SAME_REQUEST_TYPE"),
    "rpc response type changed": (_rpc_response, "RPC_SAME_RESPONSE_TYPE"),
    "rpc made streaming": (_rpc_streaming, "RPC_SAME_SERVER_STREAMING"),
    "rpc removed": (_rpc_remove, 'RPC_NO_DELETE: Previously present RPC "Describe"'),
    "service removed": (_service_remove, 'SERVICE_NO_DELETE: Previously present service "Liveness"'),
    "message removed": (_message_remove, 'MESSAGE_NO_DELETE: Previously present message "Point"'),
    "package renamed": (_package_rename, "FILE_SAME_PACKAGE"),
}


@pytest.mark.parametrize("case", sorted(BREAKING))
def test_breaking_change_is_reported(
    tmp_path: Path, baseline_path: Path, baseline: d.FileDescriptorSet, case: str
) -> None:
    mutate, expected = BREAKING[case]
    changed = _copy(baseline)
    mutate(changed)
    problems = _breaking(tmp_path, baseline_path, changed)
    assert any(p.startswith(expected) for p in problems), f"{case}: {expected!r} not in {problems}"


def _add_field(fds: d.FileDescriptorSet) -> None:
    _message(fds, "Frame").field.add(
        name="exposure_ms", number=15, type=_F.TYPE_FLOAT, json_name="exposureMs"
    )


def _add_enum_value(fds: d.FileDescriptorSet) -> None:
    enum = _enum(fds, _file(fds).enum_type[0].name)
    enum.value.add(name=f"{enum.value[0].name.rsplit('_', 1)[0]}_NEW_VALUE", number=90)


def _add_rpc(fds: d.FileDescriptorSet) -> None:
    svc = next(s for s in _file(fds).service if s.name == "LivenessTest")
    svc.method.add(
        name="Ping", input_type=".liveness.v1.DescribeRequest", output_type=".liveness.v1.TestInfo"
    )


def _add_message(fds: d.FileDescriptorSet) -> None:
    _file(fds).message_type.add(name="Extra")


def _remove_reserved(fds: d.FileDescriptorSet) -> None:
    _remove_unreserved(fds)
    message = _message(fds, "Frame")
    message.reserved_range.add(start=2, end=3)
    message.reserved_name.append("timestamp_ms")


COMPATIBLE: dict[str, Callable[[d.FileDescriptorSet], None]] = {
    "field added": _add_field,
    "enum value added": _add_enum_value,
    "rpc added": _add_rpc,
    "message added": _add_message,
    "field removed with number and name reserved": _remove_reserved,
}


@pytest.mark.parametrize("case", sorted(COMPATIBLE))
def test_additive_change_is_compatible(
    tmp_path: Path, baseline_path: Path, baseline: d.FileDescriptorSet, case: str
) -> None:
    changed = _copy(baseline)
    COMPATIBLE[case](changed)
    assert _breaking(tmp_path, baseline_path, changed) == []


def test_reserved_number_cannot_be_reused_or_released(tmp_path: Path, baseline: d.FileDescriptorSet) -> None:
    released = _copy(baseline)
    _remove_reserved(released)
    released_path = tmp_path / "released.binpb"
    released_path.write_bytes(released.SerializeToString())
    reused = _copy(released)
    _message(reused, "Frame").field.add(
        name="timestamp_us", number=2, type=_F.TYPE_INT64, json_name="timestampUs"
    )
    del _message(reused, "Frame").reserved_range[:]
    problems = _breaking(tmp_path, released_path, reused)
    assert any(p.startswith("RESERVED_MESSAGE_NO_DELETE") for p in problems), problems
    unreserved = _copy(released)
    del _message(unreserved, "Frame").reserved_range[:]
    del _message(unreserved, "Frame").reserved_name[:]
    problems = _breaking(tmp_path, released_path, unreserved)
    assert sum(p.startswith("RESERVED_MESSAGE_NO_DELETE") for p in problems) == 2, problems


def test_edited_proto_file_is_caught(tmp_path: Path, baseline_path: Path) -> None:
    """End to end from .proto text: renumbering a field in a copy of the workspace fails buf breaking."""
    shutil.copy(compat.BUF_CONFIG, tmp_path / "buf.yaml")
    shutil.copytree(compat.PROTOS / "liveness", tmp_path / "protos" / "liveness")
    edited = tmp_path / "protos" / "liveness" / "v1" / "liveness.proto"
    source = edited.read_text()
    assert "bytes data = 1;" in source
    edited.write_text(source.replace("bytes data = 1;", "bytes data = 9;", 1))
    problems = compat.breaking(baseline_path, tmp_path)
    expected = 'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED: Previously present field "1" with name "data"'
    assert any(p.startswith(expected) for p in problems), problems


def test_lint_flags_a_new_style_break(tmp_path: Path) -> None:
    """buf.yaml's exceptions are narrow: a new enum without the _UNSPECIFIED zero value is still flagged."""
    shutil.copy(compat.BUF_CONFIG, tmp_path / "buf.yaml")
    shutil.copytree(compat.PROTOS / "liveness", tmp_path / "protos" / "liveness")
    edited = tmp_path / "protos" / "liveness" / "v1" / "liveness.proto"
    edited.write_text(edited.read_text() + "\nenum Colour {\n  // Red.\n  COLOUR_RED = 0;\n}\n")
    done = compat.buf("lint", str(tmp_path), "--error-format", "json")
    assert done.returncode == 100 and "ENUM_ZERO_VALUE_SUFFIX" in done.stdout


def test_check_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert compat.main(["check"]) == 0
    out = capsys.readouterr().out
    assert "buf lint: ok" in out and "liveness-v1-0.1.0.binpb: ok" in out and "enum mirrors: ok" in out
    assert compat.main(["bogus"]) == 2


# -- what buf cannot check ---------------------------------------------------------------------------------


def test_domain_enums_mirror_the_proto() -> None:
    assert compat.mirror_problems() == []
    assert compat.mirror_problems([(pb.CheckOutcome.DESCRIPTOR, Outcome)]) == []


def test_an_enum_value_added_to_the_proto_alone_is_reported() -> None:
    class Short(enum.Enum):
        OK = "OK"
        EXTRA = "EXTRA"

    problems = compat.mirror_problems([(pb.Status.DESCRIPTOR, Short)])
    assert "liveness.v1.Status: STATUS_NO_FACE has no Short.NO_FACE" in problems
    assert "Short.EXTRA has no liveness.v1.Status value STATUS_EXTRA" in problems
