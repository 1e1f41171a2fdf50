"""Loading the sequence classifier and its tokenizer: from the hub, a local directory, a packaged
offline model, or (explicitly) random weights from an architecture config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from contract import id2label, label2id


class ModelNotAvailableError(OSError):
    """The weights or tokenizer cannot be found locally and the hub cannot be reached."""


def _offline_help(name: str) -> str:
    return (
        f"cannot load {name!r}: it is not a local directory, not in the Hugging Face cache, and "
        "the hub is unreachable (no network or HF_HUB_OFFLINE=1). Either train the offline default "
        "(model=minilm_packaged) or the tiny test model (model=deberta_v3_tiny); or download it "
        f"where the hub is reachable (`hf download {name} --local-dir DIR`) and pass "
        "model.pretrained=DIR model.tokenizer=DIR; or, for throughput benchmarks only, build "
        "random weights from the architecture with model.init=random."
    )


def load_tokenizer(name_or_dir: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a hub id or local directory; a clear error when it cannot be found."""
    try:
        return AutoTokenizer.from_pretrained(name_or_dir)
    except OSError as err:
        if Path(name_or_dir).is_dir():
            raise
        raise ModelNotAvailableError(_offline_help(name_or_dir)) from err


def load_classifier(
    pretrained: str | None,
    *,
    init: str = "pretrained",
    architecture: Mapping | None = None,
    dropout: float | None = None,
) -> PreTrainedModel:
    """An ``AutoModelForSequenceClassification`` with the ten intents as ``id2label``.

    ``init="pretrained"`` loads ``pretrained`` (hub id or directory) and adds a fresh head;
    ``init="random"`` builds the model from ``architecture`` (a dict with ``model_type`` and sizes),
    e.g. the tiny DeBERTa used by tests. Nothing falls back from one to the other.
    """
    labels = {"num_labels": len(id2label()), "id2label": id2label(), "label2id": label2id()}
    if init == "random":
        if not architecture:
            raise ValueError("model.init=random needs model.architecture (model_type and sizes)")
        arch = dict(architecture)
        if dropout is not None:
            arch.setdefault("hidden_dropout_prob", dropout)
        config = AutoConfig.for_model(**arch, **labels)
        return AutoModelForSequenceClassification.from_config(config)
    if init != "pretrained":
        raise ValueError(f"model.init must be 'pretrained' or 'random', got {init!r}")
    if not pretrained:
        raise ValueError("model.pretrained is empty: give a hub id or a local model directory")
    extra = {"hidden_dropout_prob": dropout} if dropout is not None else {}
    try:
        return AutoModelForSequenceClassification.from_pretrained(pretrained, **labels, **extra)
    except OSError as err:
        if Path(pretrained).is_dir():
            raise
        raise ModelNotAvailableError(_offline_help(pretrained)) from err
