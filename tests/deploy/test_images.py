"""Static checks of the service images: Dockerfiles, build context, serving requirements, health probe."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from liveness import healthcheck
from liveness.runtime.config import ServerSettings
from liveness.runtime.testing import serve_model
from liveness.stack import free_port
from tests.bash_scripts import check_bash_script
from tests.deploy.conftest import REPO, SERVICES, TESTS, tracked_files
from tests.doubles import DoubleModel

DOCKERFILE = REPO / "services" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of services/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def _stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The build stages, each from its FROM on."""
    starts = [i for i, (kw, _) in enumerate(steps) if kw == "FROM"]
    return [steps[a:b] for a, b in zip(starts, [*starts[1:], len(steps)], strict=True)]


def _built(name: str) -> list[list[tuple[str, str]]]:
    """The stages as `--build-arg SERVICE=<name>` builds them: ${SERVICE} resolved where the stage declares
    the ARG (a stage that does not declare it sees it empty, as the builder does)."""
    out = []
    for stage in _stages(_instructions()):
        value = name if ("ARG", "SERVICE") in stage else ""
        out.append([(kw, args.replace("${SERVICE}", value)) for kw, args in stage])
    return out


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (exclude?, pattern) in order, with Docker's matching: `*` within one path segment,
    `**` across segments, a rule that matches a folder applies to everything below it, the last match wins."""
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", glob):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
        rules.append((not include, re.compile(regex + "(?:/.*)?")))
    return rules


def _in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    kept = True
    for exclude, pattern in rules:
        if pattern.fullmatch(path):
            kept = not exclude
    return kept


@pytest.fixture(scope="module")
def context_files() -> list[str]:
    """The repository's files (as a fresh clone has them) that the build context keeps."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the build context is computed from `git ls-files`")
    rules = _ignore_rules()
    return [str(p) for p in tracked_files(REPO) if _in_context(str(p), rules)]


def test_one_dockerfile_serves_every_service() -> None:
    assert not [str(p) for p in (REPO / "services").glob("*/Dockerfile")], (
        "one Dockerfile: services/Dockerfile"
    )
    for name in SERVICES:
        assert (REPO / "services" / name / name / "__main__.py").is_file(), f"{name}: no `python -m {name}`"


def test_dockerfile_is_multi_stage_from_base_image_arg() -> None:
    steps = _instructions()
    assert steps[0] == ("ARG", "BASE_IMAGE=localhost/liveness-base:bookworm"), (
        "ARG BASE_IMAGE must come first"
    )
    stages = _stages(steps)
    froms = [stage[0][1] for stage in stages]
    assert len(froms) >= 2, "not multi-stage"
    assert froms[0].startswith("${BASE_IMAGE}") and froms[-1] == "${BASE_IMAGE}"
    copies = [args for kw, args in stages[-1] if kw == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "final stage: COPY --from only"
    # The dependency stage does not see SERVICE, so its layers are built once for every image.
    assert not any("SERVICE" in args for _, args in stages[0])


@pytest.mark.parametrize("name", SERVICES)
def test_image_runs_its_service_non_root_with_grpc_health_check(name: str) -> None:
    final = _built(name)[-1]
    users = [args for kw, args in final if kw == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]}: numeric UID >= 10000"
    (health,) = [args for kw, args in final if kw == "HEALTHCHECK"]
    assert '"-m", "liveness.healthcheck"' in health
    env = " ".join(args for kw, args in final if kw == "ENV")
    assert "LIVENESS_HOST=0.0.0.0" in env and f"PYTHONPATH=/app/src:/app/services/{name} " in env
    assert f"LIVENESS_SERVICE={name} " in env


def test_entrypoint_runs_the_service_module_as_python_m_does(tmp_path: Path) -> None:
    """The exec-form ENTRYPOINT (no shell) runs the module LIVENESS_SERVICE names, as `python -m` would."""
    (entrypoint,) = [args for kw, args in _instructions() if kw == "ENTRYPOINT"]
    argv = json.loads(entrypoint)
    assert argv[0] == "python"
    package = tmp_path / "fakeservice"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import sys\nprint(__name__, sys.argv[0].endswith('__main__.py'))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LIVENESS_SERVICE": "fakeservice"}
    out = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["__main__", "True"]
    env["LIVENESS_SERVICE"] = "nosuchservice"
    out = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "nosuchservice" in out.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_image_holds_only_its_service_runtime_and_model(name: str, context_files: list[str]) -> None:
    app = _built(name)[1]
    sources = [args.split()[0] for kw, args in app if kw == "COPY" and not args.startswith("--")]
    sources += [args.split()[0] for kw, args in _built(name)[0] if kw == "COPY"]
    assert set(sources) == {"build/wheels", "src/liveness", f"services/{name}"}
    # What the context lets `COPY services/<name>` take: the package and, for a test, its model only.
    copied = [f for f in context_files if f.startswith(f"services/{name}/")]
    parts = {f.split("/")[2] for f in copied}
    assert parts == ({name, "models"} if name in TESTS else {name}), parts
    assert f"services/{name}/{name}/__main__.py" in copied
    if name in TESTS:
        models = {f for f in copied if f.startswith(f"services/{name}/models/")}
        tracked = {
            f"services/{name}/models/{p}"
            for p in map(str, tracked_files(REPO / "services" / name / "models"))
        }
        assert models == tracked, "the whole model folder goes into the image"


def test_build_context_keeps_out_the_venv_data_and_git(context_files: list[str]) -> None:
    rules = _ignore_rules()
    assert rules[0][0] and rules[0][1].fullmatch("anything"), (
        "the context must start from nothing (allow-list)"
    )
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        ".cache/x",
        "tests/conftest.py",
        "services/iqa/MODEL_CARD.md",
        "services/Dockerfile",
        "src/liveness/__pycache__/cli.cpython-311.pyc",
    ):
        assert not _in_context(path, rules), path
    assert _in_context("build/wheels/requirements.txt", rules)
    assert not [f for f in context_files if f.startswith(("tests/", "samples/", "docs/", "tools/"))]
    for kw, args in _instructions():
        if kw == "COPY" and not args.startswith("--") and "${SERVICE}" not in args:
            source = args.split()[0]
            assert source == "build/wheels" or any(f.startswith(source + "/") for f in context_files), source


def test_serving_requirements_exclude_training_and_test_packages() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "requirements.py")], check=True, capture_output=True, text=True
    ).stdout
    names = {re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower() for line in out.splitlines()}
    # onnx (the format library, not a trainer) serves: temporal builds its face ResNet graph at start-up.
    assert {"onnxruntime", "onnx", "numpy", "opencv-python-headless", "dlib-bin", "grpcio"} <= names
    assert not names & {"tensorflow", "tensorflow-cpu", "tf2onnx", "keras", "pytest", "matplotlib"}
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
    check_bash_script(REPO / script)


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
