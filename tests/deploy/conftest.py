"""Rendered Kubernetes manifests of every overlay, shared by the deploy checks.

The manifests render from a copy of the files git tracks under deploy/k8s, as a fresh clone has them (no
generated or ignored file, no prior step), so the checks see exactly what `kubectl kustomize` gives there.
The Secrets the manifests name are rendered apart, from what deploy/k8s/gen-secrets.sh writes.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from liveness import registry

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = tuple(sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml")))
TESTS = registry.names()  # every registered test must be deployed
SERVICES = (*TESTS, "gateway")

Manifest = dict[str, Any]


def render(overlay_dir: Path) -> list[Manifest]:
    """`kubectl kustomize DIR` parsed into a list of objects."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(overlay_dir)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def tracked_files(folder: Path) -> list[Path]:
    """The files under `folder` that a commit would hold (tracked, or new and not ignored), relative to it:
    what a fresh clone has, without anything generated or gitignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return [Path(p.decode()) for p in out.split(b"\0") if p]


@pytest.fixture(scope="session")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/k8s as a fresh clone has it: no secrets, nothing generated or ignored."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH: it renders the kustomize tree (apt-get install kubectl)")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the fresh-clone copy of deploy/k8s needs `git ls-files`")
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    for rel in tracked_files(K8S):
        if (K8S / rel).is_file():  # a tracked file deleted in the working tree is not there either
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(K8S / rel, tree / rel)
    return tree


@pytest.fixture(scope="session")
def placeholder_secrets(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    """The Secrets deploy/k8s/gen-secrets.sh makes (`kubectl apply -k` of its folder), rendered."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH: it renders the kustomize tree (apt-get install kubectl)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not on PATH: deploy/k8s/gen-secrets.sh needs it for placeholder TLS material")
    folder = tmp_path_factory.mktemp("secrets") / "secrets"
    subprocess.run(
        ["bash", str(K8S / "gen-secrets.sh"), str(folder)], check=True, capture_output=True, timeout=60
    )
    return render(folder)


@pytest.fixture(scope="session")
def rendered(k8s_tree: Path) -> dict[str, list[Manifest]]:
    """Overlay name -> its rendered objects."""
    return {name: render(k8s_tree / "overlays" / name) for name in OVERLAYS}


def by_kind(objects: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(deployment: Manifest) -> Iterator[Manifest]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]
