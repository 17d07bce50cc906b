"""Static checks of the service images: Dockerfiles, build context, serving requirements, health probe."""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from liveness import healthcheck
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.stack import free_port
from tests.deploy.conftest import REPO, SERVICES, TESTS
from tests.doubles import DoubleModel


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of services/<name>/Dockerfile, continuation lines joined, comments dropped."""
    text = (REPO / "services" / name / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_is_multi_stage_from_base_image_arg(name: str) -> None:
    steps = _instructions(name)
    assert steps[0] == ("ARG", "BASE_IMAGE=localhost/liveness-base:bookworm"), (
        "ARG BASE_IMAGE must come first"
    )
    froms = [args for kw, args in steps if kw == "FROM"]
    assert len(froms) >= 2, "not multi-stage"
    assert froms[0].startswith("${BASE_IMAGE}") and froms[-1] == "${BASE_IMAGE}"
    final = steps[max(i for i, (kw, _) in enumerate(steps) if kw == "FROM") :]
    copies = [args for kw, args in final if kw == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "final stage: COPY --from only"


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_runs_non_root_with_grpc_health_check(name: str) -> None:
    steps = _instructions(name)
    final = steps[max(i for i, (kw, _) in enumerate(steps) if kw == "FROM") :]
    users = [args for kw, args in final if kw == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]}: numeric UID >= 10000"
    (health,) = [args for kw, args in final if kw == "HEALTHCHECK"]
    assert '"-m", "liveness.healthcheck"' in health
    (entrypoint,) = [args for kw, args in final if kw == "ENTRYPOINT"]
    assert entrypoint == f'["python", "-m", "{name}"]'
    env = " ".join(args for kw, args in final if kw == "ENV")
    assert "LIVENESS_HOST=0.0.0.0" in env and f"PYTHONPATH=/app/src:/app/services/{name}" in env


@pytest.mark.parametrize("name", SERVICES)
def test_image_holds_only_its_service_runtime_and_model(name: str) -> None:
    sources = [
        args.split()[0] for kw, args in _instructions(name) if kw == "COPY" and not args.startswith("--")
    ]
    expected = {"build/wheels", "src/liveness", f"services/{name}/{name}"}
    if name in TESTS:
        expected.add(f"services/{name}/models")
    assert set(sources) == expected


def test_build_context_keeps_out_the_venv_data_and_git() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", "the context must start from nothing (allow-list)"
    allowed = {line[1:] for line in rules if line.startswith("!")}
    assert not allowed & {".venv", ".git", ".cache", "tests"}
    for name in SERVICES:
        for kw, args in _instructions(name):
            if kw == "COPY" and not args.startswith("--"):
                source = args.split()[0]
                assert source in allowed or f"services/*/{source.rsplit('/', 1)[-1]}" in allowed, source


def test_serving_requirements_exclude_training_and_test_packages() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "requirements.py")], check=True, capture_output=True, text=True
    ).stdout
    names = {re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower() for line in out.splitlines()}
    assert {"onnxruntime", "numpy", "opencv-python-headless", "dlib-bin", "grpcio"} <= names
    assert not names & {"tensorflow", "tensorflow-cpu", "tf2onnx", "onnx", "keras", "pytest", "matplotlib"}
    assert "opencv-python" not in names  # links libGL, absent from the slim base


async def test_healthcheck_reports_serving_for_a_running_service() -> None:
    settings = ServerSettings(port=0, grace_s=0.0)
    async with serve_model(DoubleModel(), settings) as address:
        # A thread: the probe is a blocking client and the server runs on this event loop.
        status = await asyncio.to_thread(healthcheck.probe, address)
        code = await asyncio.to_thread(healthcheck.main, [address, "liveness.v1.LivenessTest"])
    assert status == "SERVING"
    assert code == 0


def test_healthcheck_fails_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert healthcheck.main([], env={"LIVENESS_PORT": str(port)}) == 1
    assert capsys.readouterr().out.strip() == f"127.0.0.1:{port} UNAVAILABLE"
    assert healthcheck.main(["a", "b", "c"]) == 2


@pytest.mark.parametrize(
    "script",
    ["deploy/verify.sh", "deploy/build-images.sh", "deploy/base-image/build.sh", "deploy/k8s/gen-secrets.sh"],
)
def test_deploy_scripts_parse_and_document_their_usage(script: str) -> None:
    path = REPO / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    machine_dirs = [f"/{d}/" for d in ("work", "home", "root")]
    assert not any(d in text for d in machine_dirs), "no absolute machine paths"


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    roots = [REPO / "src", *(REPO / "services" / name for name in SERVICES)]
    for root in roots:
        path = root.joinpath(*parts)
        if (path / "__init__.py").is_file():
            return path / "__init__.py"
        if path.with_suffix(".py").is_file():
            return path.with_suffix(".py")
    return None


def _third_party_imports(entries: list[str], first_party: set[str]) -> set[str]:
    """Top-level third-party modules that the entry modules can import, following first-party imports,
    including those inside functions (lazy imports), so nothing a request path may load is missed."""
    seen: set[str] = set()
    found: set[str] = set()
    todo = list(entries)
    while todo:
        module = todo.pop()
        path = _module_file(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] in first_party:
                    todo.extend(".".join(parts[: i + 1]) for i in range(len(parts)))
                elif parts[0] not in sys.stdlib_module_names and parts[0] != "__future__":
                    found.add(parts[0])
    return found


def _closure(requirements: list[str]) -> set[str]:
    """Normalised names of the distributions `requirements` install, dependencies included."""
    names: set[str] = set()
    todo = [re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requirements]
    while todo:
        name = todo.pop().strip().lower().replace("_", "-")
        if name in names:
            continue
        names.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend(re.split(r"[<>=!~;\[ (]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r)
    return names


@pytest.mark.parametrize("name", SERVICES)
def test_serving_requirements_cover_every_import_of_the_service(name: str) -> None:
    """What the image installs is enough for everything its entry points can import, and the packages
    deploy/requirements.py leaves out are never among them."""
    out = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "requirements.py")], check=True, capture_output=True, text=True
    ).stdout
    installed = _closure([*out.splitlines(), "face_recognition"])
    entries = [f"{name}.__main__", "liveness.healthcheck", "liveness.yamlmerge"]
    imports = _third_party_imports(entries, {"liveness", name})
    assert "grpc" in imports and "numpy" in imports  # the walk found the runtime
    providers = metadata.packages_distributions()
    # dlib-bin ships dlib as a bare extension module its metadata does not list.
    providers.setdefault("dlib", ["dlib-bin"])
    for module in sorted(imports):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert dists & installed, f"{name} imports {module} ({dists or 'not installed'}), not in the image"
    assert not imports & {"sklearn", "skimage", "scipy", "tensorflow", "keras", "matplotlib"}
