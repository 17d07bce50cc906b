"""`python -m liveness.yamlmerge OUT IN [IN ...]`: deep-merge YAML mappings into one file (later wins).

The gateway reads one config file (GATEWAY_CONFIG), but in Kubernetes its parts have different owners and
sensitivity: the fusion rule is a ConfigMap, the API-key hashes a Secret. An init container merges them into
a memory-backed volume at pod start, so neither has to hold the other.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` applied: nested mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_files(paths: Sequence[Path]) -> dict[str, Any]:
    """The deep merge of the YAML mappings in `paths`, in order; an empty file counts as {}."""
    merged: dict[str, Any] = {}
    for path in paths:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: the top level is not a mapping")
        merged = deep_merge(merged, data)
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: python -m liveness.yamlmerge OUT IN [IN ...]", file=sys.stderr)
        return 2
    out, inputs = Path(args[0]), [Path(a) for a in args[1:]]
    text = yaml.safe_dump(merge_files(inputs), sort_keys=False)
    # The result may hold credentials (API-key hashes): readable by the owner only.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
