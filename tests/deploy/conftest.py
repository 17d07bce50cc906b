"""Rendered Kubernetes manifests of every overlay, shared by the deploy checks.

The manifests render from a copy of deploy/k8s with placeholder secrets made by deploy/k8s/gen-secrets.sh
(the real tree never holds secret files in git), so the checks see exactly what `kubectl kustomize` gives.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
TESTS = ("iqa", "cnn2d", "temporal", "voxel3d", "texture")
SERVICES = (*TESTS, "gateway")

Manifest = dict[str, Any]


def render(overlay_dir: Path) -> list[Manifest]:
    """`kubectl kustomize DIR` parsed into a list of objects."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(overlay_dir)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="session")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s with freshly generated placeholder secrets."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH: it renders the kustomize tree (apt-get install kubectl)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not on PATH: deploy/k8s/gen-secrets.sh needs it for placeholder TLS material")
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets"))
    subprocess.run(
        ["bash", str(tree / "gen-secrets.sh"), str(tree / "base")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return tree


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
