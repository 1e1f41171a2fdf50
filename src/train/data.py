"""The LightningDataModule over the processed splits written by ``train.validate``."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytorch_lightning as pl
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorWithPadding

from train.dataset import SPLITS
from train.modeling import load_tokenizer


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples, in a fresh random order every epoch.

    Indices are shuffled, cut into windows of ``batch_size * window`` examples, each window
    sorted by length and cut into batches, and the batches shuffled. Dynamic padding then pads each
    batch only to its own longest prompt, which on short-prompt data cuts most of the padding.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window: int = 50) -> None:
        self.lengths, self.batch_size, self.seed, self.window = lengths, batch_size, seed, window
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
        rng.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


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
        if train and self.group_by_length:
            sampler = LengthGroupedBatchSampler(ds["length"], batch_size, self.seed)
            return DataLoader(features, batch_sampler=sampler, **common)
        return DataLoader(features, batch_size=batch_size, shuffle=train, **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)
