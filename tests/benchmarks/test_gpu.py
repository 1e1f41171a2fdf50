"""The GPU benchmark: its peak table, and a CPU dry run of the whole script without CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract import project_root


@pytest.mark.parametrize(
    ("device", "peak"),
    [
        ("NVIDIA H200", 989.0),
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA GeForce GTX 1080", None),
        (None, None),
    ],
)
def test_peak_is_looked_up_by_device_name(device: str | None, peak: float | None) -> None:
    from benchmarks.gpu import peak_tflops

    assert peak_tflops(device) == peak


def test_base_sizes_are_deberta_v3_base() -> None:
    import torch
    from transformers import DebertaV2ForSequenceClassification

    from benchmarks.gpu import BASE, deberta_config
    from benchmarks.train_throughput import nonembedding_params

    with torch.device("meta"):  # shapes only
        model = DebertaV2ForSequenceClassification(deberta_config(BASE))
    assert 85e6 < nonembedding_params(model) < 87e6


@pytest.mark.slow
def test_dry_run_on_cpu_reports_eager_and_says_why_each_kernel_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, "-m", "benchmarks.gpu", "--dry-run", "--output", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, cwd=project_root(), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]

    report = json.loads(out.read_text())
    assert report["dry_run"] is True and report["device"] == "cpu"
    assert report["goals"] == []  # a tiny model on a CPU: no MFU goal applies
    assert report["plan"]["model_flops_per_step"] > 0
    eager = report["training"]["eager"]
    assert eager["status"] == "measured" and eager["samples_per_s"] > 0
    for kernel in ("disentangled-flash", "flashdeberta"):
        missing = report["training"][kernel]
        assert missing["status"] == "unavailable" and missing["reason"], kernel
    assert report["fastest_kernel"] == "eager"
    handler = report["handler_half_precision"]
    assert handler["half_precision"]["autocast_float16"] is False  # no CUDA: float32 on CPU
    assert handler["float32"]["prompts_per_s_batch"] > 0
