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

import contract
from techniques.errors import TechniqueConfigError

CONF_DIR_ENV = "TECHNIQUES_CONF_DIR"


def conf_dir() -> Path:
    """The configuration root: ``$TECHNIQUES_CONF_DIR`` if set, else the project's ``conf/``."""
    override = os.environ.get(CONF_DIR_ENV)
    return Path(override) if override else contract.conf_dir()


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
    """The intent labels in id order from ``<root>/intents.yaml`` (``contract.load_labels``)."""
    path = root / "intents.yaml"
    read_yaml(path)  # a missing or malformed file gets the library's own message
    try:
        return contract.load_labels(path)
    except ValueError as exc:
        raise TechniqueConfigError(str(exc)) from None
