"""Fixtures of the batch-scoring tests: one local Ray for the module's runs, and the tiny model's
own predictions to compare the pipeline's rows with."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """A local Ray shared by the tests (``score_file`` joins it instead of starting its own):
    two actors' cores plus the spare one the pipeline keeps for reads."""
    import ray

    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    ray.init(num_cpus=3, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def predictor(tiny_archive: Path):
    """The archive's predictor in this process: what every scored row must agree with."""
    from handlers.prediction import IntentPredictor

    return IntentPredictor.from_archive(tiny_archive)
