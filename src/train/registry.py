"""The MLflow model registry side: which version is the champion, and moving the alias.

``python -m train.registry champion`` prints the champion's version, run id and metrics.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from contract.cli import run
from train.tracking import CHAMPION_ALIAS, REGISTERED_MODEL, tracking_uri

log = logging.getLogger(__name__)

SELECTION_METRIC = "val/macro_f1_best"  # best validation macro-F1 of the exported checkpoint


def client() -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri())


def champion(mlflow_client: mlflow.MlflowClient) -> ModelVersion | None:
    """The version carrying the ``champion`` alias, or None if there is none yet."""
    try:
        return mlflow_client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS)
    except MlflowException:
        return None


def version_for_run(mlflow_client: mlflow.MlflowClient, run_id: str) -> ModelVersion:
    versions = mlflow_client.search_model_versions(
        f"name='{REGISTERED_MODEL}' and run_id='{run_id}'"
    )
    if not versions:
        raise LookupError(f"run {run_id} has no registered version of {REGISTERED_MODEL}")
    return max(versions, key=lambda v: int(v.version))


def selection_score(mlflow_client: mlflow.MlflowClient, version: ModelVersion) -> float:
    metrics = mlflow_client.get_run(version.run_id).data.metrics
    if SELECTION_METRIC not in metrics:
        raise LookupError(f"run {version.run_id} has no {SELECTION_METRIC} metric")
    return metrics[SELECTION_METRIC]


def data_hash(mlflow_client: mlflow.MlflowClient, version: ModelVersion) -> str | None:
    """The ``data_hash`` tag of the version's run: which processed splits it was trained and
    validated on (``train.run_info.data_fingerprint``)."""
    return mlflow_client.get_run(version.run_id).data.tags.get("data_hash")


def _scores_on_one_split(
    mlflow_client: mlflow.MlflowClient,
    candidate: ModelVersion,
    current: ModelVersion,
    rescore: Callable[[ModelVersion], float] | None,
) -> tuple[float, float]:
    """(candidate, champion) validation macro-F1 on the same validation split."""
    if data_hash(mlflow_client, current) == data_hash(mlflow_client, candidate):
        return selection_score(mlflow_client, candidate), selection_score(mlflow_client, current)
    if rescore is None:
        raise LookupError(
            f"champion version {current.version} was trained on other data than version "
            f"{candidate.version}; its validation score cannot be compared without rescoring"
        )
    challenger, defender = rescore(candidate), rescore(current)
    log.info(
        "champion v%s trained on other data: on v%s's validation split, macro-F1 %.4f (v%s) "
        "against %.4f (v%s)",
        current.version,
        candidate.version,
        defender,
        current.version,
        challenger,
        candidate.version,
    )
    return challenger, defender


def promote_if_better(
    mlflow_client: mlflow.MlflowClient,
    candidate: ModelVersion,
    rescore: Callable[[ModelVersion], float] | None = None,
) -> bool:
    """Move ``champion`` to ``candidate`` if it beats the current champion on validation macro-F1.
    A tie keeps the current champion. Returns whether the alias moved.

    Scores are only compared on the same validation split. When the champion was trained on other
    data (its ``data_hash`` differs), its recorded score is about another split: ``rescore``
    scores a version on the candidate's validation split, and both versions are rescored. Without
    ``rescore`` such a comparison cannot be made and LookupError is raised."""
    current = champion(mlflow_client)
    if current is not None:
        if current.version == candidate.version:
            return False
        challenger, defender = _scores_on_one_split(mlflow_client, candidate, current, rescore)
        if challenger <= defender:
            return False
    mlflow_client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, candidate.version)
    return True


def describe(mlflow_client: mlflow.MlflowClient, version: ModelVersion) -> dict:
    run = mlflow_client.get_run(version.run_id)
    return {
        "name": REGISTERED_MODEL,
        "alias": CHAMPION_ALIAS,
        "version": version.version,
        "run_id": version.run_id,
        "source": version.source,
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.registry", description=__doc__)
    parser.add_argument("command", choices=["champion"], help="what to show")
    args = parser.parse_args(argv)
    mlflow_client = client()
    if args.command == "champion":
        version = champion(mlflow_client)
        if version is None:
            print(
                f"no {CHAMPION_ALIAS} for {REGISTERED_MODEL} in {tracking_uri()}; train and "
                "evaluate a model first (`dvc repro evaluate`)",
                file=sys.stderr,
            )
            return 1
        print(json.dumps(describe(mlflow_client, version), indent=2))
    return 0


if __name__ == "__main__":
    run(main)
