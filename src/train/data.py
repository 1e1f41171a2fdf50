"""The LightningDataModule over the processed splits written by ``train.validate``."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytorch_lightning as pl
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from transformers import DataCollatorWithPadding

from train.dataset import SPLITS
from train.modeling import load_tokenizer

log = logging.getLogger(__name__)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples, in a fresh random order every epoch.

    Indices are shuffled, cut into windows of ``batch_size * window`` examples, each window
    sorted by length and cut into batches, and the batches shuffled. Dynamic padding then pads each
    batch only to its own longest prompt, which on short-prompt data cuts most of the padding.

    Under DDP every rank builds the same batches from the same ``seed + epoch`` and keeps every
    ``world_size``-th one from its ``rank`` on: the ranks' shares are disjoint and together cover
    the epoch. Every rank must take as many steps (each step ends in a gradient all-reduce), so
    when the batch count does not divide by ``world_size`` the largest batches are halved until
    it does.
    """

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        seed: int,
        window: int = 50,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if len(lengths) < world_size:
            raise ValueError(f"{len(lengths)} examples cannot be shared by {world_size} ranks")
        self.lengths, self.batch_size, self.seed, self.window = lengths, batch_size, seed, window
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        size = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        while len(batches) % self.world_size:
            largest = max(range(len(batches)), key=lambda b: len(batches[b]))
            half = len(batches[largest]) // 2
            batches[largest : largest + 1] = [batches[largest][:half], batches[largest][half:]]
        rng.shuffle(batches)
        return iter(batches[self.rank :: self.world_size])

    def __len__(self) -> int:
        batches = -(-len(self.lengths) // self.batch_size)
        return -(-batches // self.world_size)


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th index from ``rank`` on, in order: evaluation rows split across DDP
    ranks with no row repeated (torch's DistributedSampler pads with repeats, which would count
    some rows twice in the reduced metrics). Shares differ by at most one row."""

    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))


class IntentDataModule(pl.LightningDataModule):
    """Tokenised train/validation/test splits with dynamic padding per batch.

    >>> dm = IntentDataModule(processed_dir="data/processed", tokenizer="path/or/hub-id")
    >>> dm.setup(); batch = next(iter(dm.train_dataloader()))  # input_ids, attention_mask, labels
    """

    def __init__(
        self,
        processed_dir: str,
        tokenizer: str,
        cache_dir: str | None = None,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        max_length: int = 128,
        group_by_length: bool = True,
        num_workers: int = 0,
        seed: int = 42,
        **_: object,  # raw_path, split, validation: read by train.validate, not here
    ) -> None:
        super().__init__()
        self.processed_dir = Path(processed_dir)
        self.tokenizer_name = tokenizer
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_length, self.group_by_length = max_length, group_by_length
        self.num_workers, self.seed = num_workers, seed
        self.splits: dict[str, datasets.Dataset] = {}
        self.tokenizer = None

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        missing = [s for s in SPLITS if not (self.processed_dir / s).is_dir()]
        if missing:
            raise FileNotFoundError(
                f"{self.processed_dir} lacks the split(s) {missing}; run "
                "`python -m train.validate` (or `dvc repro validate`) first"
            )
        self.tokenizer = load_tokenizer(self.tokenizer_name)
        for name in SPLITS:
            raw = datasets.load_from_disk(str(self.processed_dir / name))
            self.splits[name] = self._tokenize(raw, name)

    def _tokenize(self, raw: datasets.Dataset, name: str) -> datasets.Dataset:
        # Locals, not self: datasets hashes the function it maps, and a closure over self would
        # drag the trainer and model into that hash (2 s and 260 MiB per setup).
        tokenizer, max_length = self.tokenizer, self.max_length

        def encode(batch: dict) -> dict:
            out = tokenizer(batch["text"], truncation=True, max_length=max_length)
            out["length"] = [len(ids) for ids in out["input_ids"]]
            return out

        cache_file = None
        if self.cache_dir:
            # The key covers the data, the tokenizer and the length limit, so a change in any
            # of them re-tokenises instead of reusing stale ids.
            key = hashlib.sha256(
                f"{raw._fingerprint}|{self.tokenizer_name}|{self.max_length}".encode()
            ).hexdigest()[:16]
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            cache_file = str(self.cache_dir / f"{name}-{key}.arrow")
        encoded = raw.map(
            encode,
            batched=True,
            remove_columns=["text", "group"],
            cache_file_name=cache_file,
            load_from_cache_file=cache_file is not None,
            desc=f"Tokenising {name}",
        )
        return encoded.rename_column("label", "labels")

    def _loader(self, name: str, batch_size: int, train: bool) -> DataLoader:
        ds = self.splits[name]
        collate = DataCollatorWithPadding(self.tokenizer, return_tensors="pt")
        features = ds.remove_columns(["length"]).with_format("python")

        def collate_fn(rows: list[dict]) -> dict:
            return collate(rows)

        common = {"collate_fn": collate_fn, "num_workers": self.num_workers}
        rank, world_size = self._rank_and_world_size()
        if train and self.group_by_length:
            sampler = LengthGroupedBatchSampler(
                ds["length"], batch_size, self.seed, rank=rank, world_size=world_size
            )
            if world_size > 1:
                log.info(
                    "rank %d of %d: %d training batches per epoch", rank, world_size, len(sampler)
                )
            return DataLoader(features, batch_sampler=sampler, **common)
        if world_size > 1:
            # Ungrouped training batches: torch's sampler (it repeats up to world_size - 1 rows
            # so every rank takes as many steps); evaluation rows: each exactly once.
            shard = (
                DistributedSampler(features, world_size, rank, shuffle=True, seed=self.seed)
                if train
                else ShardSampler(len(features), rank, world_size)
            )
            return DataLoader(features, batch_size=batch_size, sampler=shard, **common)
        return DataLoader(features, batch_size=batch_size, shuffle=train, **common)

    def _rank_and_world_size(self) -> tuple[int, int]:
        """This process's global rank and the number of processes; (0, 1) outside a fit.

        The loaders shard by rank themselves: Lightning's sampler replacement cannot rebuild a
        custom batch sampler, so ``conf/trainer/ddp.yaml`` turns it off."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)
