"""liveness.registry: the five shipped tests in port order, and clear errors for entries that disagree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway import config as gateway_config
from liveness import registry
from liveness.cli import main
from tests.registered import on_path, throwaway_package, write_distribution

SHIPPED = ("iqa", "cnn2d", "temporal", "voxel3d", "texture")


def test_the_shipped_tests_in_port_order() -> None:
    specs = registry.tests()
    assert tuple(s.name for s in specs) == SHIPPED, (
        "the liveness.tests entry points are missing or stale: reinstall the project "
        "(pip install --no-deps --no-build-isolation -e .)"
    )
    assert [s.port for s in specs] == [50061, 50062, 50063, 50064, 50065]
    assert registry.get("cnn2d").model == "cnn2d.model:Cnn2dModel"


def test_the_packaged_gateway_config_lists_them_at_their_ports() -> None:
    config = gateway_config.load(env={})
    assert [t.name for t in config.tests] == list(SHIPPED)
    for spec in registry.tests():
        assert config.endpoint(spec.name).address == f"127.0.0.1:{spec.port}"


def test_a_spec_names_its_model_and_settings_without_importing_them() -> None:
    spec = registry.get("iqa")
    settings_cls = spec.settings_class()
    assert settings_cls.__name__ == "IqaSettings" and spec.model_class().__name__ == "IqaModel"
    assert spec.settings_from_env({"IQA_THREADS": "2"}).threads == 2


def test_unknown_test_names_the_registered_ones() -> None:
    with pytest.raises(registry.UnknownTest, match="no registered liveness test 'nope'.*iqa, cnn2d"):
        registry.get("nope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad-Name"}, "lower-case Python identifier"),
        ({"port": 80}, "outside 1024-65535"),
        ({"model": "pkg.Model"}, "model must be 'module:attribute'"),
        ({"settings": "pkg:"}, "settings must be 'module:attribute'"),
    ],
)
def test_spec_refuses_bad_fields(kwargs: dict[str, object], message: str) -> None:
    fields = {"name": "x", "port": 50070, "summary": "", "model": "x:M", "settings": "x:S", **kwargs}
    with pytest.raises(ValueError, match=message):
        registry.TestSpec(**fields)  # type: ignore[arg-type]


def test_a_registered_package_joins_the_cli_gateway_config_and_dev_ca(tmp_path: Path) -> None:
    throwaway_package(tmp_path, port=50099)
    with on_path(tmp_path, ("throwaway",)):
        assert registry.names() == (*SHIPPED, "throwaway")
        listed = CliRunner().invoke(main, ["tests"])
        assert listed.exit_code == 0, listed.output
        assert [line.split()[:2] for line in listed.output.splitlines()][-1] == ["throwaway", "50099"]
        config = gateway_config.load(env={})
        extra = config.endpoint("throwaway")
        assert (extra.address, extra.weight) == ("127.0.0.1:50099", 0.0)
        assert config.endpoint("cnn2d").weight > 0  # the listed tests keep their configured weights
        # A config file of its own decides alone.
        own = tmp_path / "own.yaml"
        own.write_text("tests:\n  iqa: {address: '127.0.0.1:1', weight: 1}\n")
        assert [t.name for t in gateway_config.load(own, env={}).tests] == ["iqa"]
        out = CliRunner().invoke(main, ["dev-ca", "--out", str(tmp_path / "ca")])
        assert out.exit_code == 0, out.output
        assert (tmp_path / "ca" / "throwaway.pem").is_file() and (tmp_path / "ca" / "texture.pem").is_file()
        # Scripts read the list from a fresh process (deploy/build-images.sh, deploy/verify.sh).
        proc = subprocess.run(
            [sys.executable, "-m", "liveness.registry", "--ports"], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-2:] == ["texture 50065", "throwaway 50099"]
    assert "throwaway" not in registry.names()


@pytest.mark.parametrize(
    ("entries", "module", "message"),
    [
        ({"wrong": "wrongpkg:TEST"}, "wrongpkg", "entry wrong declares a test named 'throwaway'"),
        ({"notspec": "notspecpkg:OTHER"}, "notspecpkg", "is not a TestSpec"),
        ({"missing": "missingpkg:NOPE"}, "missingpkg", "does not load: AttributeError"),
    ],
)
def test_bad_entries_are_errors_that_name_them(
    tmp_path: Path, entries: dict[str, str], module: str, message: str
) -> None:
    source = "from liveness.registry import TestSpec\n" + (
        "TEST = TestSpec('throwaway', 50098, '', 'x:M', 'x:S')\nOTHER = 3\n"
    )
    write_distribution(tmp_path, f"{module}-dist", entries, {module: source})
    with (
        on_path(tmp_path, (module,)),
        pytest.raises((ValueError, TypeError, RuntimeError)) as exc,
    ):
        registry.tests()
    assert message in str(exc.value)


def test_two_tests_on_one_port_are_an_error(tmp_path: Path) -> None:
    throwaway_package(tmp_path, port=50062)  # cnn2d's
    with on_path(tmp_path, ("throwaway",)), pytest.raises(ValueError, match="share a port"):
        registry.tests()


def test_serve_refuses_an_unregistered_name_and_lists_the_services() -> None:
    out = CliRunner().invoke(main, ["serve", "nope"])
    assert out.exit_code == 2
    assert "'nope' is not one of iqa, cnn2d, temporal, voxel3d, texture, gateway" in out.output
