"""MLflow settings shared by every pipeline verb."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from contract import MODEL_NAME, project_root

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The registered model carries the served model's name.
REGISTERED_MODEL = MODEL_NAME
CHAMPION_ALIAS = "champion"
# Run artifact folder holding the Hugging Face ``save_pretrained`` directory (weights, tokenizer,
# config with id2label). Packaging and evaluation read it back from here.
MODEL_ARTIFACT = "hf_model"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's SQLite store ``mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlartifacts/`` beside a SQLite store's database
    file; ``None`` (the server's choice) for any other tracking URI."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


# MLflow 3's UI opens an experiment in the view its kind names; without the tag it guesses, and
# guesses the GenAI view for a classifier's experiment.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, created if missing, tagged as model training."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(
            name,
            artifact_location=artifact_location,
            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
        )
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id
