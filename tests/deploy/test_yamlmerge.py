"""The gateway init container merges its ConfigMap (fusion rule) and Secret (API-key hashes) in one file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from gateway.config import parse
from liveness import yamlmerge
from liveness.security import hash_api_key
from tests.deploy.conftest import K8S


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    base = {"a": 1, "t": {"x": {"w": 1.0, "addr": "a"}}, "l": [1, 2]}
    override = {"t": {"x": {"w": 2.0}, "y": {"w": 3.0}}, "l": [3], "b": None}
    assert yamlmerge.deep_merge(base, override) == {
        "a": 1,
        "t": {"x": {"w": 2.0, "addr": "a"}, "y": {"w": 3.0}},
        "l": [3],
        "b": None,
    }
    assert base["t"]["x"]["w"] == 1.0  # inputs untouched


def test_fusion_config_plus_security_secret_parse_as_one_gateway_config(tmp_path: Path) -> None:
    security = tmp_path / "security.yaml"
    security.write_text(yaml.safe_dump({"security": {"api_keys": {"backend": hash_api_key("k" * 43)}}}))
    out = tmp_path / "gateway.yaml"
    assert yamlmerge.main([str(out), str(K8S / "base" / "gateway" / "fusion.yaml"), str(security)]) == 0
    config = parse(yaml.safe_load(out.read_text()))
    assert config.api_keys.enabled and config.api_keys.identify("k" * 43) == "backend"
    assert {t.name for t in config.tests} == {"iqa", "cnn2d", "temporal", "voxel3d", "texture"}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_rejects_a_non_mapping_and_bad_usage(tmp_path: Path) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="not a mapping"):
        yamlmerge.merge_files([bad])
    assert yamlmerge.main([str(tmp_path / "out.yaml")]) == 2
