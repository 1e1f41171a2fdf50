"""``pip install '.[client]'`` in a fresh virtualenv gives the consumer side alone: the client,
the technique library and the contract classify against a real TorchServe and rewrite a prompt,
with none of the training or serving stack installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from contract import project_root

pytestmark = pytest.mark.slow
HEAVY = ("torch", "transformers", "mlflow", "dvc", "great-expectations", "torchserve", "datasets")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the checkout's files, so the build leaves nothing in the checkout.
    source = tmp_path_factory.mktemp("source")
    listed = _run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=project_root()
    ).stdout.split("\0")
    for name in filter(None, listed):
        path = project_root() / name
        if path.is_file() and not name.startswith(("data/", "reports/", "notebooks/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    env_dir = tmp_path_factory.mktemp("client-venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    constraints = project_root() / "requirements" / "constraints.txt"
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(constraints),
            f"{source}[client]",
        ]
    )
    return python


def test_the_client_profile_installs_no_heavy_package(client_venv: Path) -> None:
    installed = json.loads(_run([str(client_venv), "-m", "pip", "list", "--format", "json"]).stdout)
    names = {package["name"].lower() for package in installed}
    assert not names & set(HEAVY), f"heavy packages installed: {sorted(names & set(HEAVY))}"
    probe = subprocess.run([str(client_venv), "-c", "import torch"], capture_output=True)
    assert probe.returncode != 0


def test_the_client_profile_classifies_and_enhances(
    client_venv: Path, torchserve, tmp_path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHSERVE_", "PROJECT_"))}
    env.update(
        TORCHSERVE_PORT=str(torchserve.inference_port),
        TORCHSERVE_KEY_FILE=str(torchserve.key_file),
        PYTHONPATH="",
    )
    # Outside any checkout: everything comes from the installed wheel.
    classified = _run(
        [str(client_venv), "-m", "serving_client", "classify", "Translate 'thank you' into Thai"],
        env=env,
        cwd=tmp_path,
    )
    prediction = json.loads(classified.stdout)
    assert prediction["model_version"] == "1.0" and prediction["intent"]
    enhanced = _run(
        [str(client_venv), "-m", "techniques", "enhance", "is this argument valid?", "--json"],
        env=env,
        cwd=tmp_path,
    )
    assert "is this argument valid?" in json.loads(enhanced.stdout)["text"]
    imported = _run(
        [
            str(client_venv),
            "-c",
            "import serving_client, techniques, sys; print(sys.modules.keys())",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert "torch" not in imported.stdout
