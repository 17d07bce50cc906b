"""protos/ stays wire-compatible with the last release (descriptor comparison), so tests upgrade alone.

The baseline of release 0.1.0 is protos/compat/liveness-v1-0.1.0.binpb. Each breaking edit below is made
on a copy of it (or on the .proto text, compiled with protoc) and must be reported; additive edits must not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2 as d

from liveness import compat

_F = d.FieldDescriptorProto


@pytest.fixture(scope="module")
def baseline() -> d.FileDescriptorSet:
    paths = compat.baselines()
    assert paths, "no release baseline under protos/compat/"
    return compat.read_descriptor_set(paths[-1])


@pytest.fixture(scope="module")
def current() -> d.FileDescriptorSet:
    return compat.compile_descriptor_set()


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


def test_current_contract_is_compatible_with_every_release(current: d.FileDescriptorSet) -> None:
    for path in compat.baselines():
        problems = compat.breaking_changes(compat.read_descriptor_set(path), current)
        assert problems == [], f"protos/ breaks release {path.name}:\n" + "\n".join(problems)


def test_identical_sets_are_compatible(baseline: d.FileDescriptorSet) -> None:
    assert compat.breaking_changes(baseline, _copy(baseline)) == []


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
    file = _file(fds)
    keep = [m for m in file.message_type if m.name != "Point"]
    del file.message_type[:]
    file.message_type.extend(keep)


def _package_rename(fds: d.FileDescriptorSet) -> None:
    _file(fds).package = "liveness.v2"


BREAKING: dict[str, tuple[Callable[[d.FileDescriptorSet], None], str]] = {
    "field renumbered": (_renumber, "Image.data (= 1): removed without reserving its number"),
    "scalar retyped": (_retype, "type changed from int64 to int32"),
    "message field retyped": (_retype_message, "type changed from .liveness.v1.Image to .liveness.v1.Clip"),
    "field removed, not reserved": (
        _remove_unreserved,
        "Frame.timestamp_ms (= 2): removed without reserving",
    ),
    "field renamed": (_rename_field, "renamed to time_ms"),
    "singular made repeated": (_make_repeated, "cardinality changed from singular to repeated"),
    "field moved out of a oneof": (_leave_oneof, "oneof changed from kind to None"),
    "enum value renumbered": (_enum_renumber, "renumbered to 99"),
    "enum value removed": (_enum_remove, "removed without reserving its number"),
    "enum value renamed": (_enum_rename, "_RENAMED"),
    "rpc request type changed": (_rpc_request, "LivenessTest/Check: request type changed"),
    "rpc response type changed": (_rpc_response, "LivenessTest/Describe: response type changed"),
    "rpc made streaming": (_rpc_streaming, "LivenessTest/Check: server streaming changed"),
    "rpc removed": (_rpc_remove, "LivenessTest/Describe: RPC removed"),
    "service removed": (_service_remove, ".liveness.v1.Liveness: service removed"),
    "message removed": (_message_remove, ".liveness.v1.Point: message removed"),
    "package renamed": (_package_rename, ".liveness.v1.LivenessTest: service removed"),
}


@pytest.mark.parametrize("case", sorted(BREAKING))
def test_breaking_change_is_reported(baseline: d.FileDescriptorSet, case: str) -> None:
    mutate, expected = BREAKING[case]
    changed = _copy(baseline)
    mutate(changed)
    problems = compat.breaking_changes(baseline, changed)
    assert any(expected in p for p in problems), f"{case}: {expected!r} not in {problems}"


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
def test_additive_change_is_compatible(baseline: d.FileDescriptorSet, case: str) -> None:
    changed = _copy(baseline)
    COMPATIBLE[case](changed)
    assert compat.breaking_changes(baseline, changed) == []


def test_reserved_number_cannot_be_reused_or_released(baseline: d.FileDescriptorSet) -> None:
    released = _copy(baseline)
    _remove_reserved(released)
    reused = _copy(released)
    _message(reused, "Frame").field.add(
        name="timestamp_us", number=2, type=_F.TYPE_INT64, json_name="timestampUs"
    )
    del _message(reused, "Frame").reserved_range[:]
    problems = compat.breaking_changes(released, reused)
    assert any("reuses a reserved field number" in p for p in problems), problems
    unreserved = _copy(released)
    del _message(unreserved, "Frame").reserved_range[:]
    del _message(unreserved, "Frame").reserved_name[:]
    problems = compat.breaking_changes(released, unreserved)
    assert "Frame: reserved field number 2 is no longer reserved" in " ".join(problems), problems
    assert any("reserved field name 'timestamp_ms' is no longer reserved" in p for p in problems), problems


def test_edited_proto_file_is_caught(tmp_path: Path, baseline: d.FileDescriptorSet) -> None:
    """End to end through protoc: renumbering a field in the .proto text fails the comparison."""
    source = (compat.PROTOS / compat.PROTO_FILES[0]).read_text()
    assert "bytes data = 1;" in source
    edited = tmp_path / compat.PROTO_FILES[0]
    edited.parent.mkdir(parents=True)
    edited.write_text(source.replace("bytes data = 1;", "bytes data = 9;", 1))
    problems = compat.breaking_changes(baseline, compat.compile_descriptor_set(tmp_path))
    assert any("Image.data (= 1): removed without reserving its number" in p for p in problems), problems


def test_check_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert compat.main(["check"]) == 0
    assert "compatible" in capsys.readouterr().out
    assert compat.main(["bogus"]) == 2
