"""The intent taxonomy, read from its one home: ``conf/intents.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from train.paths import CONF_DIR


@cache
def load_labels(path: Path = CONF_DIR / "intents.yaml") -> tuple[str, ...]:
    """Return the ten intent labels in id order, e.g. ``load_labels()[2] == "code_generation"``."""
    labels = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["labels"]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{path}: intent labels must be unique, got {labels}")
    return tuple(labels)


def id2label() -> dict[int, str]:
    return dict(enumerate(load_labels()))


def label2id() -> dict[str, int]:
    return {label: i for i, label in enumerate(load_labels())}
