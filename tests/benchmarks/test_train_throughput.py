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


def _row(samples_per_s: float, padded: float) -> dict:
    return {"samples_per_s": samples_per_s, "mean_padded_length": padded}


def test_cpu_goals_hold_our_loop_to_the_best_hf_side_at_fair_padding() -> None:
    from benchmarks import train_throughput as bench

    plan = bench.default_plan(bench.parse_args([]), gpu=False)
    rows = {
        "lightning": _row(30.0, 38.0),
        "hf_trainer_grouped": _row(25.0, 39.0),
        "hf_trainer": _row(10.0, 126.0),  # slower: not the baseline
    }
    speed, padding = bench.goals_for(rows, plan)
    assert speed["baseline"] == padding["baseline"] == "hf_trainer_grouped"
    assert speed["value"] == pytest.approx(1.2) and speed["met"]
    assert padding["value"] == pytest.approx(39 / 38) and padding["op"] == "<=" and padding["met"]
    rows["hf_trainer_grouped"] = _row(25.0, 50.0)  # pads a third more than ours: unfair
    assert not bench.goals_for(rows, plan)[1]["met"]


def test_cpu_plan_times_an_epoch_of_the_whole_split(processed_dir: Path) -> None:
    from benchmarks import train_throughput as bench

    plan = bench.default_plan(bench.parse_args(["--processed-dir", str(processed_dir)]), gpu=False)
    assert plan.steps is None and plan.sample is None and plan.threads == 1  # one epoch, all
    steps = bench.epoch_steps(plan)
    assert steps * plan.batch_size >= 640  # prompts timed per side
    assert bench.DEFAULT_SIDES == ("lightning", "hf_trainer_grouped")
    assert bench.SIDES["hf_trainer_grouped"].sampling == "group_by_length"


@pytest.mark.slow
def test_tiny_run_writes_a_report_with_both_sides_and_the_goals(
    processed_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "train.json"
    cmd = [sys.executable, "-m", "benchmarks.train_throughput", "--tiny", "--no-profile"]
    cmd += ["--processed-dir", str(processed_dir), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=project_root(), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "samples_per_s" in proc.stdout  # the printed table

    report = json.loads(out.read_text())
    assert report["device"] == "cpu"
    assert report["machine"]["cpu"] and report["machine"]["cores"] >= 1
    assert len(report["load_average"]["start"]) == 3
    for lib in ("python", "torch", "transformers", "pytorch-lightning"):
        assert report["versions"][lib], lib
    plan = report["plan"]
    assert (plan["model"], plan["batch_size"], plan["steps"], plan["sample"]) == (
        "deberta_v3_tiny", 8, 3, 24,
    )  # fmt: skip

    assert set(report["sides"]) == {"lightning", "hf_trainer_grouped"}
    for name, side in report["sides"].items():
        assert side["samples_per_s"] > 0, name
        assert side["samples_timed"] == 3 * 8, name  # one whole epoch of the sample
        assert 0 < side["real_tokens_per_s"] <= side["padded_tokens_per_s"], name
        assert 0 <= side["padding_share"] < 1, name
        assert side["mean_padded_length"] <= 48, name  # max_length
        assert side["peak_rss_mib"] > 0, name
        assert side["train_tflops_per_s_useful"] <= side["train_tflops_per_s_padded"], name
        settings = side["settings"]
        assert settings["batch_size"] == 8 and settings["torch_threads"] == 1, name
        assert {"sampler", "collator", "optimizer"} <= set(settings), name
    ours, theirs = report["sides"]["lightning"], report["sides"]["hf_trainer_grouped"]
    # the same prompts on both sides, batched differently
    assert ours["mean_real_length"] == theirs["mean_real_length"]
    assert "fused=True" in ours["settings"]["optimizer"]  # conf/'s fused AdamW
    assert theirs["settings"]["sampler"] == "group_by_length"

    speed, padding = report["goals"]
    assert speed["value"] == pytest.approx(ours["samples_per_s"] / theirs["samples_per_s"])
    assert (speed["target"], speed["met"]) == (1.2, speed["value"] >= 1.2)
    ratio = theirs["mean_padded_length"] / ours["mean_padded_length"]
    assert padding["value"] == pytest.approx(ratio) and padding["target"] == 1.15
