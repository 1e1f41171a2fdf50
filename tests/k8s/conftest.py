"""Fixtures of the deployment tests: every kustomize overlay rendered once, as kubectl renders it.

``rendered``: ``{overlay name: [resource dict, ...]}`` for each folder of deploy/k8s/overlays,
built with ``kubectl kustomize --load-restrictor=LoadRestrictionsNone`` (the base reads
conf/serve). Tests that need it are skipped, with the reason, where kubectl is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
# On PATH, or in the virtualenv, where `make setup` installs it when the machine has none.
KUBECTL = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))


def render(folder: Path) -> list[dict]:
    """The resources ``kubectl kustomize`` builds from ``folder``."""
    if KUBECTL is None:
        pytest.skip(
            "kubectl not found: the manifests are rendered with kubectl's built-in kustomize; "
            "install kubectl >= 1.27, or run `make setup`, which puts one in the virtualenv"
        )
    result = subprocess.run(
        [KUBECTL, "kustomize", "--load-restrictor=LoadRestrictionsNone", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {folder.relative_to(ROOT)} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


def of_kind(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["kind"] == kind]


@pytest.fixture(scope="session")
def serving(rendered: dict[str, list[dict]]) -> list[dict]:
    """The cpu overlay: TorchServe's Deployment and everything around it."""
    return rendered["cpu"]


@pytest.fixture(scope="session")
def pod(serving: list[dict]) -> dict:
    """The pod spec of the TorchServe Deployment."""
    (deployment,) = of_kind(serving, "Deployment")
    return deployment["spec"]["template"]["spec"]
