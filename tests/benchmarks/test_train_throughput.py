"""The training benchmark: its FLOP count against torch's counter, and a tiny end-to-end run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract import project_root

SMALL = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
ARCHS = {
    "bert": {"model_type": "bert", "intermediate_size": 512},
    "deberta_v3": {
        "model_type": "deberta-v2",
        "intermediate_size": 512,
        "relative_attention": True,
        "position_buckets": 64,
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "pos_att_type": ["p2c", "c2p"],
        "position_biased_input": False,
        "type_vocab_size": 0,
    },
}


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize(("batch", "seq"), [(4, 24), (2, 100)])
def test_forward_flops_match_torch_flop_counter(arch: str, batch: int, seq: int) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from benchmarks.train_throughput import forward_flops, nonembedding_params

    config = AutoConfig.for_model(**ARCHS[arch], **SMALL, vocab_size=1000, num_labels=10)
    # eager attention: its matmuls are what the counter sees (and what the formula describes)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    ids = torch.randint(5, 900, (batch, seq))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.sum().backward()
    counted_forward = counter.get_total_flops() / 3  # backward counts two forwards
    estimate = forward_flops(config, nonembedding_params(model), [seq] * batch)
    # The estimate also counts biases, LayerNorm and the pooler as if applied to every token:
    # a few percent more than the matmuls alone.
    assert counted_forward <= estimate <= 1.08 * counted_forward


def test_gpu_plan_is_deberta_v3_base_from_its_architecture_in_bf16(tmp_path: Path) -> None:
    import torch
    from omegaconf import OmegaConf
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from benchmarks import train_throughput as bench

    plan = bench.default_plan(bench.parse_args([]), gpu=True)
    cfg = bench.compose_train(plan, bench.SIDES["lightning"], tmp_path)

    assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("gpu", "bf16-mixed")
    assert (cfg.data.max_length, cfg.data.batch_size) == (128, plan.batch_size)
    assert cfg.model.init == "random" and Path(cfg.model.tokenizer).is_dir()  # no hub
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    config = AutoConfig.for_model(**model_cfg["architecture"], num_labels=10)
    with torch.device("meta"):  # shapes only: no memory, no time
        model = AutoModelForSequenceClassification.from_config(config)
    # DeBERTa-v3-base: 86M backbone parameters besides its 98M embedding parameters
    assert 85e6 < bench.nonembedding_params(model) < 87e6


@pytest.mark.slow
def test_tiny_run_writes_a_report_with_both_sides_and_the_goal(
    processed_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "train.json"
    cmd = [sys.executable, "-m", "benchmarks.train_throughput", "--tiny"]
    cmd += ["--processed-dir", str(processed_dir), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=project_root(), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "samples_per_s" in proc.stdout  # the printed table

    report = json.loads(out.read_text())
    assert report["device"] == "cpu"
    assert report["machine"]["cpu"] and report["machine"]["cores"] >= 1
    for lib in ("python", "torch", "transformers", "pytorch-lightning"):
        assert report["versions"][lib], lib
    plan = report["plan"]
    assert (plan["model"], plan["batch_size"], plan["steps"]) == ("deberta_v3_tiny", 8, 3)
    assert plan["samples"] == 3 * 8

    assert set(report["sides"]) == {"lightning", "hf_trainer"}
    for name, side in report["sides"].items():
        assert side["samples_per_s"] > 0, name
        assert side["samples_timed"] == plan["samples"] * plan["epochs"], name  # whole epochs
        assert 0 < side["real_tokens_per_s"] <= side["padded_tokens_per_s"], name
        assert 0 <= side["padding_share"] < 1, name
        assert side["mean_padded_length"] <= 48, name  # max_length
        assert side["peak_rss_mib"] > 0, name
        assert side["train_tflops_per_s_useful"] <= side["train_tflops_per_s_padded"], name
    ours, theirs = report["sides"]["lightning"], report["sides"]["hf_trainer"]
    # the same prompts on both sides, batched differently
    assert ours["mean_real_length"] == theirs["mean_real_length"]
    # length-grouped batches pad less than HF Trainer's random ones
    assert ours["padding_share"] < theirs["padding_share"]

    (only,) = report["goals"]
    assert set(only) >= {"name", "value", "target", "met"}
    assert only["value"] == pytest.approx(ours["samples_per_s"] / theirs["samples_per_s"])
    assert only["target"] == 1.2
    assert only["met"] is (only["value"] >= 1.2)
