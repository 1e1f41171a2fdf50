"""Real ``dvc repro`` on a copy of the project shrunk to seconds: the DAG runs, a second repro does
nothing, and a model setting reruns training but not validation."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contract import project_root

pytestmark = pytest.mark.slow
PER_INTENT = 30  # rows kept per intent: enough for three non-empty splits


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    """A git checkout of the tracked files with a small CSV and a one-epoch, two-batch trainer."""
    root = tmp_path_factory.mktemp("project")
    tracked = (
        subprocess.run(
            ["git", "ls-files", "-z"], cwd=project_root(), capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        source = project_root() / name
        if source.is_file() and not name.startswith(("reports/", "models/", "model_store/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    for stale in ("dvc.lock",):
        (root / stale).unlink(missing_ok=True)

    raw = root / "data" / "raw" / "prompt_intents.csv"
    with raw.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept, seen = [], {}
    for row in rows:
        if seen.get(row["label"], 0) < PER_INTENT:
            seen[row["label"]] = seen.get(row["label"], 0) + 1
            kept.append(row)
    with raw.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label", "group"])
        writer.writeheader()
        writer.writerows(kept)

    trainer_cfg = root / "conf" / "trainer" / "default.yaml"
    trainer = yaml.safe_load(trainer_cfg.read_text())
    trainer.update(max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    trainer_cfg.write_text(yaml.safe_dump(trainer))

    env = {
        **os.environ,
        "PYTHONPATH": str(root / "src"),
        "PROJECT_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    _run(["git", "init", "-q"], root, env)
    _run([*git, "add", "-A"], root, env)
    _run([*git, "commit", "-qm", "copy"], root, env)
    return root, env


def _status(root: Path, env: dict) -> dict:
    """Changed stages among ``evaluate`` and the stages it depends on."""
    return json.loads(
        _run(["dvc", "status", "evaluate", "--with-deps", "--json"], root, env).stdout or "{}"
    )


def test_repro_runs_the_dag_then_does_nothing_then_reruns_only_what_changed(project) -> None:
    root, env = project
    dvc = str(Path(sys.executable).parent / "dvc")
    first = _run([dvc, "repro", "evaluate"], root, env)
    for stage in ("validate", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout, stage
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "ece"}
    assert (root / "dvc.lock").is_file()
    assert (root / "models" / "intent_classifier" / "model.safetensors").is_file()

    second = _run([dvc, "repro", "evaluate"], root, env)
    assert "Running stage" not in second.stdout
    assert _status(root, env) == {}

    model_cfg = root / "conf" / "model" / "minilm_packaged.yaml"
    model_cfg.write_text(model_cfg.read_text().replace("lr: 1.0e-4", "lr: 5.0e-5"))
    changed = set(_status(root, env))
    assert "train" in changed
    assert "validate" not in changed
    third = _run([dvc, "repro", "evaluate"], root, env)
    assert "Running stage 'train'" in third.stdout
    assert "Running stage 'evaluate'" in third.stdout
    assert "Running stage 'validate'" not in third.stdout
