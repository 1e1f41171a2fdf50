"""Champion alias logic against a real MLflow SQLite store."""

from __future__ import annotations

import json

import mlflow
import pytest

from train import registry
from train.registry import SELECTION_METRIC, champion, promote_if_better
from train.tracking import REGISTERED_MODEL


@pytest.fixture
def client(mlflow_uri) -> mlflow.MlflowClient:
    c = mlflow.MlflowClient(mlflow_uri)
    c.create_registered_model(REGISTERED_MODEL)
    return c


def _version(client: mlflow.MlflowClient, score: float, data: str = "data-v1"):
    experiment = client.get_experiment_by_name("Default").experiment_id
    run = client.create_run(experiment, tags={"data_hash": data})
    client.log_metric(run.info.run_id, SELECTION_METRIC, score)
    return client.create_model_version(
        REGISTERED_MODEL, source=f"{run.info.artifact_uri}/hf_model", run_id=run.info.run_id
    )


def test_first_version_becomes_champion(client) -> None:
    first = _version(client, 0.80)
    assert champion(client) is None
    assert promote_if_better(client, first) is True
    assert champion(client).version == first.version


def test_better_version_moves_the_alias(client) -> None:
    old, new = _version(client, 0.80), _version(client, 0.85)
    promote_if_better(client, old)
    assert promote_if_better(client, new) is True
    assert champion(client).version == new.version


@pytest.mark.parametrize("score", [0.80, 0.79], ids=["tie", "worse"])
def test_equal_or_worse_version_keeps_the_champion(client, score) -> None:
    old, new = _version(client, 0.80), _version(client, score)
    promote_if_better(client, old)
    assert promote_if_better(client, new) is False
    assert champion(client).version == old.version


def test_champion_cli_prints_version_run_and_metrics(client, capsys) -> None:
    best = _version(client, 0.9)
    promote_if_better(client, best)
    assert registry.main(["champion"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == best.version
    assert shown["run_id"] == best.run_id
    assert shown["metrics"][SELECTION_METRIC] == 0.9


def test_champion_cli_without_champion_says_what_to_do(client, capsys) -> None:
    assert registry.main(["champion"]) == 1
    assert "train and evaluate a model first" in capsys.readouterr().err


def test_same_data_compares_the_recorded_scores_without_rescoring(client) -> None:
    old, new = _version(client, 0.80), _version(client, 0.85)
    promote_if_better(client, old)

    def rescore(version):
        raise AssertionError("no rescoring on the same data")

    assert promote_if_better(client, new, rescore) is True


@pytest.mark.parametrize(
    ("rescored", "moved"),
    [({"old": 0.90, "new": 0.95}, True), ({"old": 0.95, "new": 0.90}, False)],
    ids=["new-better-on-new-data", "old-better-on-new-data"],
)
def test_other_data_rescores_both_on_the_candidates_split(client, rescored, moved) -> None:
    # Recorded scores come from different validation splits and point the other way on purpose.
    old = _version(client, 0.99, data="data-v1")
    new = _version(client, 0.50, data="data-v2")
    promote_if_better(client, old)
    names = {old.version: "old", new.version: "new"}
    seen = []

    def rescore(version):
        seen.append(names[version.version])
        return rescored[names[version.version]]

    assert promote_if_better(client, new, rescore) is moved
    assert sorted(seen) == ["new", "old"]
    assert champion(client).version == (new if moved else old).version


def test_other_data_without_a_rescorer_refuses_to_compare(client) -> None:
    old, new = _version(client, 0.80, data="data-v1"), _version(client, 0.95, data="data-v2")
    promote_if_better(client, old)
    with pytest.raises(LookupError, match="other data"):
        promote_if_better(client, new)
    assert champion(client).version == old.version
