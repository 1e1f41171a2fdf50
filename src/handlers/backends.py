"""How a predictor runs its forward pass: the model in full precision, or an int8 variant.

One name per backend, set in model-config.yaml's ``handler.backend``:

- ``torch``: the Hugging Face model as trained, float32 (float16 autocast on a GPU when
  ``half_precision`` is on).
- ``torch-int8``: the same model with every ``nn.Linear`` quantised to int8 at load
  (``torch.ao.quantization.quantize_dynamic``: int8 weights per output channel, activations
  quantised per batch). CPU only; needs no file beyond the weights.
- ``onnx-int8``: ``model.int8.onnx``, the model exported to ONNX and quantised to int8 when the
  archive was built (``train.export``), run by ONNX Runtime. CPU only.

Every backend takes the tokenizer's tensors and returns float32 logits on the CPU::

    backend = load_backend("onnx-int8", model_dir, model)
    logits = backend({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

TORCH, TORCH_INT8, ONNX_INT8 = "torch", "torch-int8", "onnx-int8"
BACKENDS = (TORCH, TORCH_INT8, ONNX_INT8)
ONNX_INT8_FILE = "model.int8.onnx"
# What each backend needs in the model directory besides the Hugging Face files.
FILES = {TORCH: (), TORCH_INT8: (), ONNX_INT8: (ONNX_INT8_FILE,)}

Runner = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """A loaded backend: its name and the callable that maps model inputs to logits."""

    name: str
    run: Runner

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.run(inputs)


class BackendUnavailableError(RuntimeError):
    """The backend cannot run here: a file it needs is missing, or its runtime is not installed."""


def check_name(name: str) -> str:
    """``name`` if it is a known backend; ValueError listing the known ones otherwise."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {list(BACKENDS)}")
    return name


def load_backend(
    name: str,
    model_dir: str | os.PathLike[str] | None,
    model: torch.nn.Module,
    *,
    device: torch.device | str = "cpu",
) -> Backend:
    """``model`` (already on ``device``, in eval mode) run the way ``name`` says.

    ``model_dir`` is where ``onnx-int8`` finds its file; a missing file is an error. The int8
    backends are CPU kernels: on a GPU the model runs as ``torch`` (half precision is the GPU's
    fast path), with a warning in the log.
    """
    check_name(name)
    device = torch.device(device)
    if name != TORCH and device.type != "cpu":
        log.warning("backend %s runs on the CPU only; running torch on %s instead", name, device)
        name = TORCH
    if name == TORCH:
        return Backend(name, _torch_runner(model))
    if name == TORCH_INT8:
        return Backend(name, _torch_runner(quantize_linear_int8(model)))
    if model_dir is None:
        raise BackendUnavailableError(f"backend {name} needs the model directory for its file")
    return Backend(name, _onnx_runner(Path(model_dir) / ONNX_INT8_FILE))


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers compute in int8 (dynamic quantisation)."""
    with warnings.catch_warnings():
        # torch.ao.quantization warns that its eager API moves to torchao; it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        # Per output channel: per-tensor scales moved 2.5% of a trained model's test predictions,
        # per-channel 0.3%, at the same speed.
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear: qconfig}, dtype=torch.qint8
        )


def _torch_runner(model: torch.nn.Module) -> Runner:
    def run(inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return model(**inputs).logits

    return run


def _onnx_runner(path: Path) -> Runner:
    if not path.is_file():
        raise BackendUnavailableError(
            f"{path} is missing: the archive was built without the onnx-int8 export "
            "(python -m train.package writes it when the export passes its parity check)"
        )
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise BackendUnavailableError(
            "onnx-int8 needs onnxruntime: pip install onnxruntime"
        ) from err
    options = ort.SessionOptions()
    # The worker's torch_threads setting governs ONNX Runtime too: one knob for the worker's CPU.
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # No busy-waiting threads on cores shared with the frontend.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        feed = {name: inputs[name].cpu().numpy() for name in names}
        return torch.from_numpy(session.run(None, feed)[0])

    return run
