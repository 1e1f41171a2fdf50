"""MLflow settings shared by every pipeline verb."""

from __future__ import annotations

import os
from pathlib import Path

from train.paths import PROJECT_ROOT

REGISTERED_MODEL = "intent_classifier"
CHAMPION_ALIAS = "champion"
# Run artifact folder holding the Hugging Face ``save_pretrained`` directory (weights, tokenizer,
# config with id2label). Packaging and evaluation read it back from here.
MODEL_ARTIFACT = "hf_model"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's SQLite store ``mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlartifacts/`` beside a SQLite store's database
    file; ``None`` (the server's choice) for any other tracking URI."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
