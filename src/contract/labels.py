"""The intent labels, read from their one home: ``conf/intents.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from contract.paths import conf_dir


@cache
def load_labels(path: Path | None = None) -> tuple[str, ...]:
    """The ten intent labels in id order, e.g. ``load_labels()[2] == "code_generation"``.

    ``path`` defaults to ``conf/intents.yaml``. Raises ``ValueError`` naming the file when the
    list is missing, not a list of strings, or has duplicates.
    """
    path = Path(path) if path is not None else conf_dir() / "intents.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path}: expected a non-empty list of strings under 'labels'")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{path}: intent labels must be unique, got {labels}")
    return tuple(labels)


def id2label() -> dict[int, str]:
    return dict(enumerate(load_labels()))


def label2id() -> dict[str, int]:
    return {label: i for i, label in enumerate(load_labels())}
