"""Fixtures for the technique library: the project's own configuration, and a writable copy of
it for tests that break one file on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from techniques import TechniqueLibrary, conf_dir

CONF = conf_dir()


@pytest.fixture(scope="session")
def library() -> TechniqueLibrary:
    return TechniqueLibrary.load(CONF)


@pytest.fixture(scope="session")
def labels() -> tuple[str, ...]:
    """The intent labels, read straight from conf/intents.yaml."""
    return tuple(yaml.safe_load((CONF / "intents.yaml").read_text(encoding="utf-8"))["labels"])


@pytest.fixture
def conf_copy(tmp_path: Path) -> Path:
    """A copy of conf/intents.yaml and conf/techniques/ that a test may edit."""
    root = tmp_path / "conf"
    root.mkdir()
    shutil.copy(CONF / "intents.yaml", root / "intents.yaml")
    shutil.copytree(CONF / "techniques", root / "techniques")
    return root
