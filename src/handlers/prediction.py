"""Turn prompts into intent predictions: the model half of the TorchServe handler.

Nothing here imports TorchServe, so tests, benchmarks and the client's local mode run the same code
the server runs::

    predictor = IntentPredictor.from_archive("model_store/intent_classifier.mar")
    predictor.predict(["Translate 'good morning' into French"])[0]["intent"]  # "translation"
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import yaml
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from contract import MAX_BODY_BYTES, check_text, sha256_file
from handlers.backends import TORCH, check_name, load_backend
from handlers.calibration import Calibration

# Folder of the Hugging Face model directory inside a .mar; model-config.yaml's handler section
# may name another.
MODEL_SUBDIR = "model"
MODEL_CONFIG_FILE = "model-config.yaml"
MANIFEST_FILE = "MAR-INF/MANIFEST.json"
DEFAULT_TOP_K = 3
# Only these tokenizer outputs feed the model; others (e.g. "length") would break its forward.
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


@dataclass(frozen=True)
class HandlerSettings:
    """The ``handler:`` section of model-config.yaml, checked."""

    model_dir: str = MODEL_SUBDIR
    # Tokens kept per prompt; None: the length the model was trained with (its tokenizer's
    # model_max_length). ``train.package`` writes the trained length here.
    max_length: int | None = None
    top_k: int = DEFAULT_TOP_K
    max_body_bytes: int = MAX_BODY_BYTES
    half_precision: bool = False
    torch_threads: int | None = None  # intra-op CPU threads of a worker; None keeps torch's
    # How the forward pass runs (handlers.backends): torch, torch-int8 or onnx-int8.
    backend: str = TORCH
    # TorchServe worker only: emit the HandlerTime/PredictionTime metrics for every batch. The
    # frontend's own ts_* metrics (requests, queue and inference latency) never depend on it.
    model_metrics: bool = True

    @classmethod
    def from_model_config(cls, model_config: Mapping[str, Any] | None) -> HandlerSettings:
        """Read ``model_config["handler"]``; unknown keys and non-positive sizes are errors."""
        section = dict((model_config or {}).get("handler") or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(
                f"unknown handler setting(s) {unknown} in {MODEL_CONFIG_FILE}; "
                f"known: {sorted(known)}"
            )
        settings = cls(**section)
        for name in ("max_length", "top_k", "max_body_bytes"):
            value = getattr(settings, name)
            if name == "max_length" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"handler setting {name} must be a positive integer, got {value!r}"
                )
        threads = settings.torch_threads
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"handler setting torch_threads must be null or >= 1, got {threads!r}")
        check_name(settings.backend)
        metrics = settings.model_metrics
        if not isinstance(metrics, bool):
            raise ValueError(
                f"handler setting model_metrics must be true or false, got {metrics!r}"
            )
        return settings

    def predictor_kwargs(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "top_k": self.top_k,
            "half_precision": self.half_precision,
            "backend": self.backend,
        }


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for a batch of prompts (padded to its longest) and which were truncated."""

    inputs: dict[str, torch.Tensor]
    truncated: list[bool]


class IntentPredictor:
    """A sequence classifier with its tokenizer, returning one result dict per prompt."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        device: str | torch.device = "cpu",
        max_length: int | None = None,
        top_k: int = DEFAULT_TOP_K,
        model_version: str = "unknown",
        half_precision: bool = False,
        calibration: Calibration | None = None,
        backend: str = TORCH,
        model_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        id2label = model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        if not 1 <= top_k <= len(self.labels):
            raise ValueError(f"top_k must be between 1 and {len(self.labels)}, got {top_k}")
        if max_length is None:
            max_length = trained_max_length(tokenizer, model.config)
        if max_length < 2:
            raise ValueError(f"max_length must leave room for special tokens, got {max_length}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.max_length = max_length
        self.top_k = top_k
        self.model_version = str(model_version)
        # Autocast only pays on CUDA; on CPU float16 matmuls are slower than float32.
        self.half_precision = half_precision and self.device.type == "cuda"
        self._encoder = _batch_encoder(tokenizer, max_length)
        self._input_names = [n for n in tokenizer.model_input_names if n in MODEL_INPUTS]
        self.calibration = calibration or Calibration()
        # model_dir: where a backend finds its file (onnx-int8's model.int8.onnx).
        self._backend = load_backend(backend, model_dir, self.model, device=self.device)
        self.backend = self._backend.name

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | os.PathLike[str],
        *,
        device: str = "cpu",
        max_length: int | None = None,
        top_k: int = DEFAULT_TOP_K,
        model_version: str = "unknown",
        half_precision: bool = False,
        backend: str = TORCH,
    ) -> IntentPredictor:
        """Load a ``save_pretrained`` directory (weights, tokenizer, config with ``id2label``, and
        the ``calibration.json`` training fitted, when there is one)."""
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"{model_dir} is not a Hugging Face model directory")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
        return cls(
            model,
            tokenizer,
            device=device,
            max_length=max_length,
            top_k=top_k,
            model_version=model_version,
            half_precision=half_precision,
            calibration=Calibration.load(model_dir),
            backend=backend,
            model_dir=model_dir,
        )

    @classmethod
    def from_archive(
        cls,
        mar_path: str | os.PathLike[str],
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> IntentPredictor:
        """Extract a .mar (a zip) to a cache dir and load it; model-config.yaml handler settings and
        the archive's version apply unless overridden by kwargs."""
        root = extract_archive(mar_path, cache_dir)
        settings = HandlerSettings.from_model_config(_read_yaml(root / MODEL_CONFIG_FILE))
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
        options = {
            **settings.predictor_kwargs(),
            "model_version": manifest["model"].get("modelVersion", "unknown"),
            **kwargs,
        }
        return cls.from_pretrained(root / settings.model_dir, **options)

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        """Tokenise the whole batch in one call, truncated to ``max_length``, on the device."""
        encodings = self._encoder.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        inputs = {
            name: torch.tensor(columns[name], dtype=torch.long).to(self.device, non_blocking=True)
            for name in self._input_names
        }
        return EncodedBatch(inputs=inputs, truncated=[bool(e.overflowing) for e in encodings])

    def logits(self, batch: EncodedBatch) -> torch.Tensor:
        """The model's raw scores, shape (prompts, labels), float32 on the CPU, uncalibrated."""
        autocast = (
            torch.autocast("cuda", dtype=torch.float16)
            if self.half_precision
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            logits = self._backend(batch.inputs)
        return logits.float().cpu()

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        """Calibrated class probabilities, shape (prompts, labels), float32 on the CPU."""
        return self.probabilities(self.logits(batch))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax of ``logits`` at the calibration's temperature."""
        return (logits / self.calibration.temperature).softmax(dim=-1)

    def decode(self, probabilities: torch.Tensor, truncated: Sequence[bool]) -> list[dict]:
        """One result dict per row: intent, confidence, top_k, model_version, truncated, and
        low_confidence (the top probability is under the calibration's threshold)."""
        top = probabilities.topk(self.top_k, dim=-1)
        threshold = self.calibration.low_confidence_threshold
        results = []
        for scores, ids, was_truncated in zip(
            top.values.tolist(), top.indices.tolist(), truncated, strict=True
        ):
            ranked = [
                {"intent": self.labels[i], "score": score}
                for i, score in zip(ids, scores, strict=True)
            ]
            results.append(
                {
                    "intent": ranked[0]["intent"],
                    "confidence": ranked[0]["score"],
                    "top_k": ranked,
                    "model_version": self.model_version,
                    "truncated": was_truncated,
                    "low_confidence": scores[0] < threshold,
                }
            )
        return results

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One dict per text, in order: {"intent": str, "confidence": float,
        "top_k": [{"intent": str, "score": float}, ...], "model_version": str, "truncated": bool,
        "low_confidence": bool}.
        Texts must be non-blank str (raise ValueError otherwise)."""
        if isinstance(texts, str):
            raise ValueError("predict() takes a sequence of texts; wrap a single text in a list")
        texts = [check_text(text) for text in texts]
        if not texts:
            return []
        batch = self.encode(texts)
        return self.decode(self.forward(batch), batch.truncated)


def trained_max_length(tokenizer: Any, config: Any) -> int:
    """The token length the model was trained with: the tokenizer's ``model_max_length``, which
    training sets to ``data.max_length`` before saving, bounded by the model's positions."""
    length = int(getattr(tokenizer, "model_max_length", 0) or 0)
    positions = int(getattr(config, "max_position_embeddings", 0) or 0)
    # Tokenizers saved without a limit report a huge sentinel (int(1e30)).
    if positions and not 0 < length <= positions:
        length = positions
    if length < 2:
        raise ValueError("the model's tokenizer sets no model_max_length; pass max_length")
    return length


def _batch_encoder(tokenizer: Any, max_length: int) -> Tokenizer:
    """A private copy of the fast tokenizer's Rust backend, set to truncate and pad.

    Its encodings report ``overflowing`` tokens, which tells truncation apart without tokenising
    twice; the copy keeps the settings away from the caller's tokenizer.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"{type(tokenizer).__name__} has no fast (Rust) backend; save a fast one")
    encoder = Tokenizer.from_str(backend.to_str())
    encoder.enable_truncation(max_length=max_length)
    encoder.enable_padding(
        pad_id=tokenizer.pad_token_id or 0,
        pad_token=tokenizer.pad_token or "[PAD]",
        pad_type_id=getattr(tokenizer, "pad_token_type_id", 0),
    )
    return encoder


def extract_archive(
    mar_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Unzip a .mar once per content hash; returns the folder holding MAR-INF/ and the model."""
    mar_path = Path(mar_path)
    if not mar_path.is_file():
        raise FileNotFoundError(
            f"no model archive at {mar_path}; build one: python -m train.package"
        )
    cache = Path(cache_dir) if cache_dir else _default_cache_dir()
    target = cache / sha256_file(mar_path)[:16]
    if (target / MANIFEST_FILE).is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".extract-"))
    try:
        with zipfile.ZipFile(mar_path) as archive:
            archive.extractall(staging)
        if not (staging / MANIFEST_FILE).is_file():
            raise ValueError(f"{mar_path} has no {MANIFEST_FILE}: not a TorchServe archive")
        # Rename is atomic, so a concurrent reader sees a whole extraction or none.
        with contextlib.suppress(OSError):
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "prompt-intent" / "archives"


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
