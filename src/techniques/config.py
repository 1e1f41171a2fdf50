"""Where the configuration lives and how its YAML files are read.

The library reads ``<conf>/intents.yaml`` and ``<conf>/techniques/``. ``<conf>`` is the project's
``conf/`` folder unless the environment variable ``TECHNIQUES_CONF_DIR`` names another folder with
the same layout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydantic
import yaml

from techniques.errors import TechniqueConfigError

CONF_DIR_ENV = "TECHNIQUES_CONF_DIR"


def conf_dir() -> Path:
    """The configuration root: ``$TECHNIQUES_CONF_DIR`` if set, else the project's ``conf/``."""
    override = os.environ.get(CONF_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "conf"


def read_yaml(path: Path) -> Any:
    """Parse one YAML file, turning a missing or malformed file into a TechniqueConfigError."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TechniqueConfigError(
            f"{path}: file not found; set {CONF_DIR_ENV} to a folder holding intents.yaml and "
            "techniques/"
        ) from None
    except yaml.YAMLError as exc:
        raise TechniqueConfigError(f"{path}: not valid YAML: {exc}") from None


def parse(model: type[pydantic.BaseModel], data: Any, path: Path) -> Any:
    """Validate ``data`` against ``model``; errors name the file and the offending keys."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise TechniqueConfigError(f"{path}: {problems}") from None


def load_intents(root: Path) -> tuple[str, ...]:
    """The intent labels in id order from ``<root>/intents.yaml``."""
    path = root / "intents.yaml"
    data = read_yaml(path)
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise TechniqueConfigError(f"{path}: expected a non-empty list of strings under 'labels'")
    if len(set(labels)) != len(labels):
        raise TechniqueConfigError(f"{path}: intent labels must be unique, got {labels}")
    return tuple(labels)
