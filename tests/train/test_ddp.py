"""Training on several machines: the rank-aware samplers, ``trainer=ddp``, a real two-node run on
loopback (gloo, CPU) launched by torchrun, and the Kubeflow manifest that runs the same command."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
import mlflow
import pytest
import yaml
from omegaconf import OmegaConf

from contract import project_root
from train.config import compose
from train.data import LengthGroupedBatchSampler, ShardSampler
from train.tracking import REGISTERED_MODEL

# What both machines run after `torchrun <rendezvous flags>`; the manifest names the same.
TRAIN_COMMAND = ["-m", "train", "trainer=ddp", "trainer.num_nodes=2"]
SMOKE = ["model=deberta_v3_tiny", "trainer.max_epochs=1"]
MANIFEST = project_root() / "deploy" / "train" / "trainjob.yaml"
# Two ranks of the tiny model on two busy cores: about two minutes; a hang ends here.
PAIR_TIMEOUT_S = 480


def _lengths(n: int, seed: int = 3) -> list[int]:
    import random

    rng = random.Random(seed)
    return [rng.randint(2, 128) for _ in range(n)]


@pytest.mark.parametrize("world_size", [2, 3, 4, 7])
@pytest.mark.parametrize("n", [97, 1000, 2562])
def test_grouped_batches_split_across_ranks_cover_the_epoch_once(n: int, world_size: int) -> None:
    lengths = _lengths(n)
    samplers = [
        LengthGroupedBatchSampler(lengths, 32, seed=42, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    for _epoch in range(2):
        shares = [list(s) for s in samplers]
        counts = {len(share) for share in shares}
        assert counts == {len(samplers[0])}, "every rank must take as many steps"
        seen = [i for share in shares for batch in share for i in batch]
        assert len(seen) == n, "an example was repeated or left out"
        assert sorted(seen) == list(range(n))
        assert all(0 < len(batch) <= 32 for share in shares for batch in share)


def test_one_rank_keeps_the_single_process_batches_and_epochs_differ() -> None:
    lengths = _lengths(500)
    plain = LengthGroupedBatchSampler(lengths, 16, seed=7)
    ranked = LengthGroupedBatchSampler(lengths, 16, seed=7, rank=0, world_size=1)
    first, second = list(plain), list(plain)
    assert list(ranked) == first
    assert first != second, "each epoch shuffles anew"
    assert len(plain) == len(first) == math.ceil(500 / 16)


def test_ranks_agree_on_the_epoch_without_talking() -> None:
    lengths = _lengths(300)
    a = LengthGroupedBatchSampler(lengths, 8, seed=1, rank=0, world_size=2)
    b = LengthGroupedBatchSampler(lengths, 8, seed=1, rank=1, world_size=2)
    for _ in range(3):
        left, right = list(a), list(b)
        assert not {i for x in left for i in x} & {i for x in right for i in x}


def test_a_rank_outside_the_world_or_too_few_examples_is_refused() -> None:
    with pytest.raises(ValueError, match="rank"):
        LengthGroupedBatchSampler([5, 6], 2, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="cannot be shared"):
        LengthGroupedBatchSampler([5], 2, seed=0, rank=0, world_size=2)


@pytest.mark.parametrize(("size", "world_size"), [(323, 2), (10, 3), (2, 4)])
def test_evaluation_rows_are_sharded_once_each(size: int, world_size: int) -> None:
    shares = [list(ShardSampler(size, r, world_size)) for r in range(world_size)]
    assert sorted(i for share in shares for i in share) == list(range(size))
    assert [len(share) for share in shares] == [
        len(ShardSampler(size, r, world_size)) for r in range(world_size)
    ]


def test_ddp_trainer_takes_its_shape_from_torchrun(monkeypatch) -> None:
    for name in ("LOCAL_WORLD_SIZE", "GROUP_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    plain = OmegaConf.to_container(
        compose("train", ["paths.output_dir=/tmp/unused", "trainer=ddp"]).trainer, resolve=True
    )
    assert (plain["devices"], plain["num_nodes"]) == ("auto", 1)
    assert plain["accelerator"] == "auto"
    assert plain["strategy"]["_target_"] == "pytorch_lightning.strategies.DDPStrategy"
    assert plain["strategy"]["process_group_backend"] is None  # gloo on CPU, nccl on GPU
    assert plain["use_distributed_sampler"] is False  # the data module shards by rank

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("GROUP_WORLD_SIZE", "3")
    launched = compose("train", ["paths.output_dir=/tmp/unused", "trainer=ddp"]).trainer
    assert (launched.devices, launched.num_nodes) == (4, 3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun() -> list[str]:
    found = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "torch.distributed.run"]


def _stop(proc: subprocess.Popen) -> None:
    """End a launched torchrun and the ranks it started (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_two_nodes_on_loopback_train_one_tracked_run(
    tmp_path: Path, processed_dir: Path, mlflow_uri: str
) -> None:
    port = _free_port()
    overrides = [
        f"paths.root_dir={tmp_path}",
        f"data.processed_dir={processed_dir}",
        "trainer.enable_model_summary=false",
    ]
    # Two "machines" on two cores: one thread each, or they fight over the same cores.
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "OMP_NUM_THREADS": "1"}
    procs, logs = [], []
    started = time.monotonic()
    try:
        for node in (0, 1):
            log = (tmp_path / f"node{node}.log").open("w")
            logs.append(log)
            rendezvous = [
                "--nnodes=2",
                f"--node-rank={node}",
                "--nproc-per-node=1",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
            ]
            procs.append(
                subprocess.Popen(
                    [*_torchrun(), *rendezvous, *TRAIN_COMMAND, *SMOKE, *overrides],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        codes = []
        for proc in procs:
            left = PAIR_TIMEOUT_S - (time.monotonic() - started)
            try:
                codes.append(proc.wait(timeout=max(left, 1)))
            except subprocess.TimeoutExpired:
                codes.append(None)
    finally:
        for proc in procs:
            _stop(proc)
        for log in logs:
            log.close()
    outputs = [(tmp_path / f"node{n}.log").read_text(errors="replace") for n in (0, 1)]
    for node, (code, output) in enumerate(zip(codes, outputs, strict=True)):
        assert code == 0, f"node {node} exited {code}:\n{output[-4000:]}"

    client = mlflow.MlflowClient(mlflow_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    assert len(runs) == 1, f"expected one MLflow run, found {len(runs)}"
    (run,) = runs
    assert run.info.status == "FINISHED"
    assert run.data.tags["world_size"] == "2"
    assert len(client.search_model_versions(f"name='{REGISTERED_MODEL}'")) == 1

    # Each rank took half of the epoch's batches: the single-process count, halved.
    train_rows = len(datasets.load_from_disk(str(processed_dir / "train")))
    batch_size = compose("train", ["paths.output_dir=/tmp/unused"]).data.batch_size
    half = math.ceil(math.ceil(train_rows / batch_size) / 2)
    assert run.data.metrics["train/batches_per_rank"] == half
    for rank, output in enumerate(outputs):
        assert re.search(rf"rank {rank} of 2: {half} training batches per epoch", output), rank


def test_kubeflow_trainjob_runs_the_same_command() -> None:
    job = yaml.safe_load(MANIFEST.read_text())
    assert (job["apiVersion"], job["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert job["spec"]["runtimeRef"]["name"] == "torch-distributed"
    trainer = job["spec"]["trainer"]
    command = trainer["command"]
    assert command[: 1 + len(TRAIN_COMMAND)] == ["torchrun", *TRAIN_COMMAND]
    assert trainer["numNodes"] == 2  # == trainer.num_nodes in the command
    assert trainer["numProcPerNode"] == 1
    assert re.fullmatch(r"ghcr\.io/<org>/prompt-intent-train:<tag>", trainer["image"])
    env = {e["name"]: e for e in trainer["env"]}
    secret = env["MLFLOW_TRACKING_URI"]["valueFrom"]["secretKeyRef"]
    assert secret["name"] and secret["key"]
    # The command's Hydra overrides are valid against the real conf/.
    overrides = [arg for arg in command[3:] if "=" in arg]
    cfg = compose("train", ["paths.output_dir=/tmp/unused", *overrides])
    assert cfg.trainer.num_nodes == trainer["numNodes"]
    mounts = {
        m["mountPath"]
        for override in job["spec"]["podTemplateOverrides"]
        for container in override["spec"]["containers"]
        for m in container["volumeMounts"]
    }
    assert str(Path(cfg.data.processed_dir).parent) in mounts
    assert cfg.paths.root_dir in mounts
