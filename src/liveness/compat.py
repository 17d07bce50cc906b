"""Wire-compatibility check of the contract against the last release's descriptors.

Tests and the gateway are upgraded one at a time, so a new build must talk to the previous release in both
directions. `breaking_changes(old, new)` compares two FileDescriptorSets and names every change that breaks
that: a field renumbered, retyped, renamed, moved in or out of a oneof, or removed without `reserved`; a
reserved number or name reused or released; an enum value removed, renumbered or renamed; an RPC removed or
its request, response or streaming changed; a message, enum or service removed. Additions are compatible.

The baseline of each release is committed under protos/compat/ (`python -m liveness.compat snapshot 0.1.0`);
tests/contract/test_compat.py fails when protos/ breaks it. Needs grpcio-tools (the test extra) to compile.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2 as d

from liveness.protogen import PROTO_FILES, PROTOS, ROOT, run_protoc

COMPAT = PROTOS / "compat"
BASELINE_SUFFIX = ".binpb"

_F = d.FieldDescriptorProto


def compile_descriptor_set(
    proto_root: Path = PROTOS, files: Sequence[str] = PROTO_FILES
) -> d.FileDescriptorSet:
    """Compile `files` (relative to `proto_root`) with grpc_tools.protoc into one FileDescriptorSet."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        run_protoc([f"--descriptor_set_out={out}"], proto_root, files)
        return d.FileDescriptorSet.FromString(out.read_bytes())


def read_descriptor_set(path: Path) -> d.FileDescriptorSet:
    return d.FileDescriptorSet.FromString(path.read_bytes())


def baselines(compat_dir: Path = COMPAT) -> list[Path]:
    """Committed release baselines, oldest first (by version number in the name: liveness-v1-0.1.0.binpb)."""

    def version(path: Path) -> tuple[int, ...]:
        raw = path.name.removesuffix(BASELINE_SUFFIX).rsplit("-", 1)[-1]
        return tuple(int(part) for part in raw.split("."))

    return sorted(compat_dir.glob(f"*{BASELINE_SUFFIX}"), key=version)


def _messages(prefix: str, messages: Iterable[d.DescriptorProto]) -> Iterator[tuple[str, d.DescriptorProto]]:
    for message in messages:
        name = f"{prefix}.{message.name}"
        yield name, message
        yield from _messages(name, message.nested_type)


def _index(
    fds: d.FileDescriptorSet,
) -> tuple[
    dict[str, d.DescriptorProto], dict[str, d.EnumDescriptorProto], dict[str, d.ServiceDescriptorProto]
]:
    """Every message, enum and service of the set by fully qualified name (nested ones included)."""
    messages: dict[str, d.DescriptorProto] = {}
    enums: dict[str, d.EnumDescriptorProto] = {}
    services: dict[str, d.ServiceDescriptorProto] = {}
    for file in fds.file:
        prefix = f".{file.package}" if file.package else ""
        for enum in file.enum_type:
            enums[f"{prefix}.{enum.name}"] = enum
        for name, message in _messages(prefix, file.message_type):
            messages[name] = message
            for enum in message.enum_type:
                enums[f"{name}.{enum.name}"] = enum
        for service in file.service:
            services[f"{prefix}.{service.name}"] = service
    return messages, enums, services


def _reserved_number(ranges: Iterable[d.DescriptorProto.ReservedRange], number: int) -> bool:
    # DescriptorProto reserved ranges are end-exclusive.
    return any(r.start <= number < r.end for r in ranges)


def _reserved_enum_number(ranges: Iterable[d.EnumDescriptorProto.EnumReservedRange], number: int) -> bool:
    # EnumDescriptorProto reserved ranges are end-inclusive.
    return any(r.start <= number <= r.end for r in ranges)


def _field_type(field: d.FieldDescriptorProto) -> str:
    if field.type in (_F.TYPE_MESSAGE, _F.TYPE_ENUM):
        return field.type_name
    return str(_F.Type.Name(field.type)).removeprefix("TYPE_").lower()


def _label(field: d.FieldDescriptorProto) -> str:
    if field.label == _F.LABEL_REPEATED:
        return "repeated"
    return "optional" if field.proto3_optional else "singular"


def _oneof(message: d.DescriptorProto, field: d.FieldDescriptorProto) -> str | None:
    """The real oneof a field belongs to (proto3 `optional` synthetic oneofs do not count)."""
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None
    return str(message.oneof_decl[field.oneof_index].name)


def _compare_message(name: str, old: d.DescriptorProto, new: d.DescriptorProto) -> Iterator[str]:
    new_fields = {f.number: f for f in new.field}
    old_numbers = {f.number for f in old.field}
    for field in old.field:
        where = f"{name}.{field.name} (= {field.number})"
        after = new_fields.get(field.number)
        if after is None:
            if not _reserved_number(new.reserved_range, field.number):
                yield f"{where}: removed without reserving its number"
            if field.name not in new.reserved_name:
                yield f"{where}: removed without reserving its name"
            continue
        if after.name != field.name:
            yield f"{where}: renamed to {after.name} (breaks JSON and generated code)"
        if _field_type(after) != _field_type(field):
            yield f"{where}: type changed from {_field_type(field)} to {_field_type(after)}"
        if _label(after) != _label(field):
            yield f"{where}: cardinality changed from {_label(field)} to {_label(after)}"
        if _oneof(new, after) != _oneof(old, field):
            yield f"{where}: oneof changed from {_oneof(old, field)} to {_oneof(new, after)}"
        if after.json_name != field.json_name:
            yield f"{where}: JSON name changed from {field.json_name} to {after.json_name}"
    for field in new.field:
        if field.number in old_numbers:
            continue
        if _reserved_number(old.reserved_range, field.number):
            yield f"{name}.{field.name} (= {field.number}): reuses a reserved field number"
        if field.name in old.reserved_name:
            yield f"{name}.{field.name} (= {field.number}): reuses a reserved field name"
        renamed_from = next((f for f in old.field if f.name == field.name), None)
        if renamed_from is not None:
            yield f"{name}.{field.name}: renumbered from {renamed_from.number} to {field.number}"
    for r in old.reserved_range:
        for number in range(r.start, r.end):
            if not _reserved_number(new.reserved_range, number) and number not in new_fields:
                yield f"{name}: reserved field number {number} is no longer reserved"
                break
    for reserved in old.reserved_name:
        if reserved not in new.reserved_name:
            yield f"{name}: reserved field name {reserved!r} is no longer reserved"


def _compare_enum(name: str, old: d.EnumDescriptorProto, new: d.EnumDescriptorProto) -> Iterator[str]:
    new_by_number = {v.number: v for v in new.value}
    new_by_name = {v.name: v for v in new.value}
    for value in old.value:
        where = f"{name}.{value.name} (= {value.number})"
        after = new_by_number.get(value.number)
        if after is None:
            if value.name in new_by_name:
                yield f"{where}: renumbered to {new_by_name[value.name].number}"
            elif not _reserved_enum_number(new.reserved_range, value.number):
                yield f"{where}: removed without reserving its number"
            continue
        names_now = {v.name for v in new.value if v.number == value.number}
        if value.name not in names_now:
            yield f"{where}: renamed to {after.name} (breaks JSON and generated code)"
    old_numbers = {v.number for v in old.value}
    for value in new.value:
        if value.number not in old_numbers and _reserved_enum_number(old.reserved_range, value.number):
            yield f"{name}.{value.name} (= {value.number}): reuses a reserved enum number"
        if value.name in old.reserved_name:
            yield f"{name}.{value.name}: reuses a reserved enum name"


def _compare_service(
    name: str, old: d.ServiceDescriptorProto, new: d.ServiceDescriptorProto
) -> Iterator[str]:
    new_methods = {m.name: m for m in new.method}
    for method in old.method:
        where = f"{name}/{method.name}"
        after = new_methods.get(method.name)
        if after is None:
            yield f"{where}: RPC removed"
            continue
        if after.input_type != method.input_type:
            yield f"{where}: request type changed from {method.input_type} to {after.input_type}"
        if after.output_type != method.output_type:
            yield f"{where}: response type changed from {method.output_type} to {after.output_type}"
        if after.client_streaming != method.client_streaming:
            yield f"{where}: client streaming changed to {after.client_streaming}"
        if after.server_streaming != method.server_streaming:
            yield f"{where}: server streaming changed to {after.server_streaming}"


def breaking_changes(old: d.FileDescriptorSet, new: d.FileDescriptorSet) -> list[str]:
    """Every wire- or API-breaking difference from `old` to `new`, one sentence each; [] when compatible."""
    old_messages, old_enums, old_services = _index(old)
    new_messages, new_enums, new_services = _index(new)
    problems: list[str] = []
    for name, message in old_messages.items():
        if name not in new_messages:
            problems.append(f"{name}: message removed")
        else:
            problems.extend(_compare_message(name, message, new_messages[name]))
    for name, enum in old_enums.items():
        if name not in new_enums:
            problems.append(f"{name}: enum removed")
        else:
            problems.extend(_compare_enum(name, enum, new_enums[name]))
    for name, service in old_services.items():
        if name not in new_services:
            problems.append(f"{name}: service removed")
        else:
            problems.extend(_compare_service(name, service, new_services[name]))
    return problems


def snapshot(version: str, compat_dir: Path = COMPAT) -> Path:
    """Write the current contract's descriptors as the baseline of release `version`."""
    compat_dir.mkdir(parents=True, exist_ok=True)
    path = compat_dir / f"liveness-v1-{version}{BASELINE_SUFFIX}"
    fds = compile_descriptor_set()
    for file in fds.file:
        file.ClearField("source_code_info")  # comments may change freely
    path.write_bytes(fds.SerializeToString(deterministic=True))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m liveness.compat check` (against every baseline) or `snapshot VERSION` (at a release)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["snapshot"] and len(args) == 2:
        print(snapshot(args[1]).relative_to(ROOT))
        return 0
    if args == ["check"]:
        current = compile_descriptor_set()
        failed = False
        for path in baselines():
            problems = breaking_changes(read_descriptor_set(path), current)
            for problem in problems:
                print(f"{path.name}: {problem}")
            failed = failed or bool(problems)
            if not problems:
                print(f"{path.name}: compatible")
        return 1 if failed else 0
    print("usage: python -m liveness.compat check | snapshot VERSION", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
