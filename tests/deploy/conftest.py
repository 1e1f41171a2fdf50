"""Real servers for the deploy tests: an MLflow artifact server the archives are published to, and
TorchServes with token auth, the model API on and conf/serve's allowed_urls, serving the tiny
model as version 1.0."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import pytest

from contract import MODEL_NAME, sha256_file
from ops.artifacts import archive_version
from ops.processes import signal_group, wait_group_exit
from ops.properties import Ports
from ops.server import RunningTorchServe, start_torchserve


@dataclass(frozen=True)
class MlflowServer:
    url: str
    experiment_id: str


@dataclass(frozen=True)
class Published:
    """An archive logged to its own MLflow run and published by ops.publish."""

    url: str
    package_json: Path  # intent_classifier.json as train.package writes it
    sha256: str


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server --serve-artifacts`` on a free loopback port, SQLite store in a temp dir."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    port = Ports.free().inference
    command = [
        sys.executable, "-m", "mlflow", "server", "--serve-artifacts",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    # The job runner starts a pool of consumers the artifact server does not need.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with (root / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()}")
            time.sleep(0.25)  # the server announces readiness only by answering
        experiment = mlflow.MlflowClient(url).create_experiment("deploy-tests")
        yield MlflowServer(url, experiment)
    finally:
        signal_group(process.pid, signal.SIGTERM)
        if not wait_group_exit(process.pid, 30):
            signal_group(process.pid, signal.SIGKILL)


@pytest.fixture
def publish(mlflow_server: MlflowServer, tmp_path: Path) -> Callable[[Path], Published]:
    """Log an archive to a new run the way train.package does, write its intent_classifier.json,
    and publish it with ``python -m ops.publish``'s function."""
    import mlflow

    from ops.publish import publish as publish_archive
    from train.package import ARCHIVE_ARTIFACT, PackagedModel

    client = mlflow.MlflowClient(mlflow_server.url)

    def _publish(archive: Path) -> Published:
        run_id = client.create_run(mlflow_server.experiment_id).info.run_id
        client.log_artifact(run_id, str(archive), ARCHIVE_ARTIFACT)
        folder = tmp_path / f"package-{run_id}"
        folder.mkdir()
        shutil.copy(archive, folder / archive.name)
        packaged = PackagedModel(
            model_name=MODEL_NAME,
            version=archive_version(archive),
            run_id=run_id,
            archive=archive.name,
            sha256=sha256_file(archive),
            metrics={},
        )
        package_json = folder / f"{MODEL_NAME}.json"
        package_json.write_text(json.dumps(asdict(packaged)), encoding="utf-8")
        url = publish_archive(package_json, tracking_uri=mlflow_server.url)
        return Published(url, package_json, packaged.sha256)

    return _publish


@pytest.fixture
def start_server(tiny_archive: Path, tmp_path: Path) -> Iterator[Callable[..., RunningTorchServe]]:
    """Start TorchServes serving the tiny model as version 1.0 with conf/serve's settings plus the
    model API; keyword arguments go to ``start_torchserve``. All are stopped at the end."""
    started: list[RunningTorchServe] = []

    def _start(**options: object) -> RunningTorchServe:
        name = f"ts{len(started)}"
        store = tmp_path / name / "store"
        store.mkdir(parents=True)
        shutil.copy(tiny_archive, store / f"{MODEL_NAME}.mar")
        server = start_torchserve(
            store, enable_model_api=True, workdir=tmp_path / name / "work", **options
        )
        started.append(server)
        return server

    try:
        yield _start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def v2_archive(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model packaged as version 2.0."""
    from train.package import build_archive

    return build_archive(tiny_model_dir, tmp_path_factory.mktemp("v2"), version="2.0")


GARBAGE_HANDLER = """
def handle(data, context):
    if data is None:  # TorchServe's initialisation call
        return None
    return ["this is not JSON" for _ in data]
"""


@pytest.fixture(scope="session")
def garbage_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 2.0 of a model whose handler answers every request 200 with a body that is not
    JSON: a real server producing the fault, not a stub."""
    folder = tmp_path_factory.mktemp("garbage")
    handler = folder / "garbage_handler.py"
    handler.write_text(GARBAGE_HANDLER, encoding="utf-8")
    command = [
        sys.executable, "-m", "model_archiver.model_packaging", "--model-name", MODEL_NAME,
        "--version", "2.0", "--handler", str(handler), "--export-path", str(folder),
    ]  # fmt: skip
    # The archiver stages files in $TMPDIR/<model name>: a private one per build.
    (folder / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(folder / "tmp")}
    subprocess.run(command, check=True, capture_output=True, env=env)
    return folder / f"{MODEL_NAME}.mar"
