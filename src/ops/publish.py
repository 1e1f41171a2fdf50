"""``python -m ops.publish``: put the packaged archive in the MLflow artifact store under its
version's own file name and print the URL the servers download it from.

    python -m train.package     # model_store/intent_classifier.{mar,json}, logged to the run
    python -m ops.publish       # http://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/<run>/
                                #   artifacts/torchserve/intent_classifier-7.mar
    python -m ops.deploy --archive-url URL --package-json model_store/intent_classifier.json ...

``train.package`` logs the archive to its run as ``torchserve/intent_classifier.mar``, a name every
version shares; TorchServe stores a downloaded archive under the URL's file name and refuses a
name its model store already holds, so a copy named ``intent_classifier-<version>.mar`` is logged
beside it. The tracking server must run with ``--serve-artifacts``. ``--artifact-url`` names that
server as the TorchServe hosts reach it, when that differs from ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from contract import MODEL_NAME, project_root, sha256_file
from contract.cli import run
from ops.artifacts import ArchiveRefused, mlflow_artifact_url, versioned_name

PACKAGE_JSON = project_root() / "model_store" / f"{MODEL_NAME}.json"


def publish(package_json: str | Path, *, tracking_uri: str, artifact_url: str | None = None) -> str:
    """Log the archive ``package_json`` describes to its run as ``<model>-<version>.mar`` and
    return its download URL. Raises :class:`ArchiveRefused` when the archive on disk is not the
    one the JSON records."""
    import mlflow

    from train.package import ARCHIVE_ARTIFACT  # the run folder the archive is logged to

    package_json = Path(package_json)
    packaged = json.loads(package_json.read_text(encoding="utf-8"))
    archive = package_json.parent / packaged["archive"]
    if sha256_file(archive) != packaged["sha256"]:
        raise ArchiveRefused(f"{archive} is not the archive {package_json} records (sha256)")
    name = versioned_name(packaged["model_name"], str(packaged["version"]))
    client = mlflow.MlflowClient(tracking_uri)
    artifact_uri = client.get_run(packaged["run_id"]).info.artifact_uri
    if not artifact_url and urlsplit(tracking_uri).scheme in {"http", "https"}:
        artifact_url = tracking_uri
    url = mlflow_artifact_url(artifact_uri, f"{ARCHIVE_ARTIFACT}/{name}", artifact_url)
    with tempfile.TemporaryDirectory(prefix="publish-") as staging:
        copy = Path(staging) / name
        shutil.copyfile(archive, copy)
        client.log_artifact(packaged["run_id"], str(copy), ARCHIVE_ARTIFACT)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.publish",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--package-json", type=Path, default=PACKAGE_JSON)
    parser.add_argument(
        "--artifact-url",
        help="the MLflow server as TorchServe reaches it (default: an http(s) MLFLOW_TRACKING_URI)",
    )
    args = parser.parse_args(argv)
    from mlflow.exceptions import MlflowException

    from train.tracking import tracking_uri

    try:
        url = publish(
            args.package_json, tracking_uri=tracking_uri(), artifact_url=args.artifact_url
        )
    except (ArchiveRefused, MlflowException, OSError, KeyError, ValueError) as err:
        print(f"publish: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    run(main)
