"""The optimised serving backends at package time: export, parity check, and the decision.

``handler.backend`` in conf/serve/model-config.yaml names the backend to serve
(``handlers.backends``). Before an archive carries it, the backend must agree with the float32
model on the held-out prompts, validation and test splits together (``parity``): at least 99% of
predictions equal and macro-F1 no more than 0.005 lower. Both splits, because quantisation flips
only near-ties, and a flip rate near 1% cannot be told apart from 99% on one split of ~350
prompts (standard error 0.5 points); neither split has been seen by the backend's export.
``choose_backend`` exports, checks and, when either fails, falls back to ``torch`` with the reason
logged::

    choice = choose_backend(model_dir, "onnx-int8", texts, labels)
    choice.backend, choice.reason, choice.parity  # "onnx-int8", None, Parity(agreement=0.997, …)

``train.package`` calls it on the champion (the gate: the archive carries only a backend that
passed), and ``train.evaluate`` records the same check in ``reports/metrics.json``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from handlers.backends import FILES, ONNX_INT8, ONNX_INT8_FILE, TORCH, check_name
from handlers.prediction import MODEL_INPUTS, IntentPredictor
from train.scoring import classification_scores

log = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99  # share of held-out predictions equal to the float32 model's
PARITY_SPLITS = ("validation", "test")  # the labelled splits parity is measured on, together
MAX_MACRO_F1_DROP = 0.005
ONNX_OPSET = 17


class ExportError(RuntimeError):
    """A backend's files could not be produced from the model directory."""


@dataclass(frozen=True)
class Parity:
    """How a backend's predictions compare with the float32 model's on the same prompts."""

    backend: str
    samples: int
    agreement: float  # share of prompts with the same top intent
    macro_f1_reference: float  # float32 torch
    macro_f1: float
    macro_f1_drop: float
    min_agreement: float = MIN_AGREEMENT
    max_macro_f1_drop: float = MAX_MACRO_F1_DROP

    @property
    def passed(self) -> bool:
        return self.agreement >= self.min_agreement and self.macro_f1_drop <= self.max_macro_f1_drop

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class BackendChoice:
    """The backend an archive serves, the one asked for, and why they differ (None: they don't)."""

    backend: str
    requested: str
    parity: Parity | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "requested": self.requested,
            "reason": self.reason,
            "parity": self.parity.to_dict() if self.parity else None,
        }


def export_backend(model_dir: str | os.PathLike[str], backend: str) -> list[Path]:
    """Write the files ``backend`` needs into ``model_dir`` (a ``save_pretrained`` directory);
    returns them. ``torch`` and ``torch-int8`` need none; ``onnx-int8`` exports the model to ONNX
    and quantises its weights to int8 (``model.int8.onnx``)."""
    check_name(backend)
    model_dir = Path(model_dir)
    if backend == ONNX_INT8:
        return [export_onnx_int8(model_dir, model_dir / ONNX_INT8_FILE)]
    return []


def export_onnx_int8(model_dir: Path, out: Path) -> Path:
    """Export the classifier to ONNX (batch and sequence length dynamic) and quantise it with
    ONNX Runtime's dynamic int8 quantisation (per-channel int8 weights, activations per batch)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Eager attention: plain MatMul/Softmax ops, the pattern ONNX Runtime's optimisations know.
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, attn_implementation="eager"
    ).eval()
    # In the order of forward's parameters: the exporter names the graph's inputs in that order.
    accepted = set(tokenizer.model_input_names) & set(MODEL_INPUTS)
    names = [n for n in inspect.signature(model.forward).parameters if n in accepted]
    sample = tokenizer(["a short prompt", "and a second, longer one"], padding=True)
    inputs = {n: torch.tensor(sample[n], dtype=torch.long) for n in names}
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as tmp:
        fp32 = Path(tmp) / "model.onnx"
        try:
            # The TorchScript-based exporter: standard ONNX ops that the quantiser and ONNX
            # Runtime's graph optimisations know, for any Hugging Face encoder.
            torch.onnx.export(
                model,
                (),
                str(fp32),
                kwargs=inputs,
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
            with _root_logger_at(logging.WARNING):  # the quantiser logs every tensor at INFO
                quantize_dynamic(fp32, out, weight_type=QuantType.QInt8, per_channel=True)
        except Exception as err:  # the exporter and quantiser raise many kinds
            out.unlink(missing_ok=True)
            raise ExportError(f"ONNX int8 export of {model_dir} failed: {err}") from err
    return out


def predict_logits(
    predictor: IntentPredictor,
    texts: Sequence[str],
    batch_size: int,
    progress: str | None = None,
) -> np.ndarray:
    """The predictor's raw scores per text (its tokenizer, its ``max_length``, its forward pass),
    batched by similar length to keep padding small; ``progress`` labels a tqdm bar."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    logits = np.zeros((len(texts), len(predictor.labels)), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=progress, unit="batch", disable=progress is None):
        idx = order[start : start + batch_size]
        logits[idx] = predictor.logits(predictor.encode([texts[i] for i in idx])).numpy()
    return logits


def parity(
    backend: str, reference_logits: np.ndarray, logits: np.ndarray, labels: np.ndarray
) -> Parity:
    """Compare a backend's logits with the float32 model's on prompts labelled ``labels``."""
    reference = classification_scores(labels, reference_logits)["macro_f1"]
    scored = classification_scores(labels, logits)["macro_f1"]
    return Parity(
        backend=backend,
        samples=len(labels),
        agreement=float((reference_logits.argmax(1) == logits.argmax(1)).mean()),
        macro_f1_reference=float(reference),
        macro_f1=float(scored),
        macro_f1_drop=float(reference - scored),
    )


def choose_backend(
    model_dir: str | os.PathLike[str],
    backend: str,
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    batch_size: int = 64,
    reference_logits: np.ndarray | None = None,
) -> BackendChoice:
    """Export ``backend`` into ``model_dir`` and check it against the float32 model on
    ``texts``/``labels`` (``parity_prompts``). On an export error or a failed check, the exported
    files are removed and the choice is ``torch``, with the reason logged as a warning."""
    check_name(backend)
    if backend == TORCH:
        return BackendChoice(TORCH, TORCH)
    model_dir = Path(model_dir)
    labels = np.asarray(labels, dtype=np.int64)
    try:
        written = export_backend(model_dir, backend)
    except ExportError as err:
        return _fall_back(backend, f"export failed: {err}")
    if reference_logits is None:
        reference = IntentPredictor.from_pretrained(model_dir)
        reference_logits = predict_logits(reference, texts, batch_size)
    candidate = IntentPredictor.from_pretrained(model_dir, backend=backend)
    result = parity(backend, reference_logits, predict_logits(candidate, texts, batch_size), labels)
    if not result.passed:
        for path in written:
            path.unlink(missing_ok=True)
        return _fall_back(
            backend,
            f"parity failed on {result.samples} prompts: {result.agreement:.2%} of predictions "
            f"equal (need {MIN_AGREEMENT:.0%}), macro-F1 drop {result.macro_f1_drop:.4f} "
            f"(at most {MAX_MACRO_F1_DROP})",
            result,
        )
    log.info(
        "backend %s passed parity: %.2f%% of %d predictions equal, macro-F1 %.4f vs %.4f",
        backend,
        100 * result.agreement,
        result.samples,
        result.macro_f1,
        result.macro_f1_reference,
    )
    return BackendChoice(backend, backend, result)


def missing_files(model_dir: str | os.PathLike[str], backend: str) -> list[str]:
    """The files ``backend`` needs that ``model_dir`` lacks."""
    return [name for name in FILES[check_name(backend)] if not (Path(model_dir) / name).is_file()]


def _fall_back(backend: str, reason: str, result: Parity | None = None) -> BackendChoice:
    log.warning("backend %s not used, serving torch (float32): %s", backend, reason)
    return BackendChoice(TORCH, backend, result, reason)


def parity_prompts(
    processed_dir: str | os.PathLike[str], splits: Sequence[str] = PARITY_SPLITS
) -> tuple[list[str], np.ndarray]:
    """The texts and labels of ``splits`` of the processed data, concatenated in that order.
    Raises FileNotFoundError naming the first split that is missing."""
    import datasets

    texts: list[str] = []
    labels: list[int] = []
    for name in splits:
        path = Path(processed_dir) / name
        if not path.is_dir():
            raise FileNotFoundError(
                f"no labelled split at {path} to check parity on (python -m train.validate)"
            )
        split = datasets.load_from_disk(str(path))
        texts += list(split["text"])
        labels += list(split["label"])
    return texts, np.asarray(labels, dtype=np.int64)


def gate_backend(
    model_dir: str | os.PathLike[str],
    model_config: dict[str, Any],
    processed_dir: str | os.PathLike[str],
) -> tuple[dict[str, Any], BackendChoice]:
    """``model_config`` with ``handler.backend`` set to what ``model_dir`` may serve: the
    configured backend once exported and checked on the held-out splits under
    ``processed_dir`` (``parity_prompts``), else ``torch`` (reason logged)."""
    handler = dict(model_config.get("handler") or {})
    requested = check_name(handler.get("backend", TORCH))
    if requested == TORCH:
        choice = BackendChoice(TORCH, TORCH)
    else:
        try:
            texts, labels = parity_prompts(processed_dir)
        except FileNotFoundError as err:
            choice = _fall_back(requested, str(err))
        else:
            choice = choose_backend(model_dir, requested, texts, labels)
    return {**model_config, "handler": {**handler, "backend": choice.backend}}, choice


def servable_config(
    model_config: dict[str, Any], model_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """``model_config`` unchanged when ``model_dir`` holds the files its backend needs; else with
    ``handler.backend: torch`` and a warning, so an archive never names a backend it cannot run."""
    handler = dict(model_config.get("handler") or {})
    backend = handler.get("backend", TORCH)
    missing = missing_files(model_dir, backend)
    if not missing:
        return model_config
    log.warning(
        "%s lacks %s for backend %s; the archive serves torch (train.export.gate_backend exports "
        "and checks it)",
        model_dir,
        missing,
        backend,
    )
    return {**model_config, "handler": {**handler, "backend": TORCH}}


def served_predictor(
    model_dir: str | os.PathLike[str],
    requested: str,
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    reference_logits: np.ndarray | None = None,
    *,
    batch_size: int = 64,
) -> tuple[BackendChoice, IntentPredictor | None]:
    """What evaluation scores with: ``requested`` checked as packaging will check it, on a scratch
    copy of ``model_dir`` (left untouched). Returns the choice and a predictor on the chosen
    backend, or None when that is ``torch`` (the caller's float32 predictor already is)."""
    with tempfile.TemporaryDirectory(prefix="backend-") as tmp:
        scratch = Path(tmp) / "model"
        # Absolute targets: links to a relative path would point inside the scratch copy.
        shutil.copytree(Path(model_dir).resolve(), scratch, copy_function=os.symlink)
        choice = choose_backend(
            scratch,
            requested,
            texts,
            labels,
            batch_size=batch_size,
            reference_logits=reference_logits,
        )
        if choice.backend == TORCH:
            return choice, None
        # Loaded before the scratch copy goes: the backend holds what it read.
        return choice, IntentPredictor.from_pretrained(scratch, backend=choice.backend)


def configured_backend(model_config_path: str | os.PathLike[str]) -> str:
    """``handler.backend`` of a model-config.yaml (``torch`` when unset)."""
    config = yaml.safe_load(Path(model_config_path).read_text(encoding="utf-8")) or {}
    return check_name((config.get("handler") or {}).get("backend", TORCH))


@contextlib.contextmanager
def _root_logger_at(level: int) -> Iterator[None]:
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(before, level))
    try:
        yield
    finally:
        root.setLevel(before)
