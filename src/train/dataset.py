"""Reading the raw prompt CSV, normalising text, and the grouped, stratified split."""

from __future__ import annotations

import csv
import io
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

import datasets
import pandas as pd

REQUIRED_COLUMNS = ("text", "label", "group")
SPLITS = ("train", "validation", "test")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


class DataFileError(ValueError):
    """The raw file cannot be read as a prompt table; the message says what to fix."""


def normalize_text(text: str) -> str:
    """Lowercase, strip punctuation and collapse whitespace: ``"Hi,  there!" -> "hi there"``."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCTUATION.sub("", text).split())


def read_prompt_csv(path: str | Path) -> pd.DataFrame:
    """Load the CSV with HF ``datasets`` and return it as a DataFrame with a 1-based ``row`` column
    (the data row number, header excluded) so reports can point at offending rows.

    Raises DataFileError for a missing or empty file, bytes that are not UTF-8, or missing columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file; point data.raw_path at the prompt CSV")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFileError(f"{path}: the file is empty; expected a header `text,label,group`")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataFileError(
            f"{path}: line {line} is not valid UTF-8 (byte {raw[err.start]:#04x} at offset "
            f"{err.start}); re-save the file as UTF-8"
        ) from None
    header = next(csv.reader(io.StringIO(raw.decode("utf-8"))), [])
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {missing}; the header must hold {list(REQUIRED_COLUMNS)}, "
            f"found {header}"
        )
    # Every column is read as text; empty fields become null (reported as such) while strings
    # such as "NA" or "null" stay text.
    features = datasets.Features({name: datasets.Value("string") for name in header})
    table = datasets.load_dataset(
        "csv",
        data_files=str(path),
        split="train",
        features=features,
        keep_default_na=False,
        na_values=[""],
        download_mode="force_redownload",
    )
    frame = table.to_pandas()
    frame.insert(0, "row", range(1, len(frame) + 1))
    return frame


def grouped_stratified_split(
    frame: pd.DataFrame, fractions: Mapping[str, float], seed: int
) -> pd.Series:
    """Assign every row to a split so that no ``group`` crosses splits and each label's rows are
    shared out close to ``fractions`` (e.g. ``{"train": .8, "validation": .1, "test": .1}``).

    Groups are visited largest first (random order among equals, from ``seed``); each goes to the
    split furthest below its target count for the group's labels. Returns the split name per row.
    """
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6 or any(f < 0 for f in fractions.values()):
        raise ValueError(
            f"split fractions must be non-negative and sum to 1, got {dict(fractions)}"
        )
    names = list(fractions)
    label_totals = Counter(frame["label"])
    target = {s: {lab: fractions[s] * n for lab, n in label_totals.items()} for s in names}
    filled: dict[str, Counter] = {s: Counter() for s in names}

    groups = list(frame.groupby("group", sort=True).groups.items())
    random.Random(seed).shuffle(groups)
    groups.sort(key=lambda item: len(item[1]), reverse=True)

    assignment: dict[object, str] = {}
    for group, index in groups:
        labels = Counter(frame.loc[index, "label"])

        def deficit(split: str, labels: Counter = labels) -> float:
            return sum(
                (target[split][lab] - filled[split][lab]) / max(label_totals[lab], 1) * n
                for lab, n in labels.items()
            )

        best = max(names, key=deficit)
        assignment[group] = best
        filled[best].update(labels)
    return frame["group"].map(assignment)


def save_splits(frame: pd.DataFrame, split: pd.Series, labels: tuple[str, ...], out: Path) -> None:
    """Write each split as an HF dataset (``text``, ``label`` as a ClassLabel, ``group``)."""
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(labels)),
            "group": datasets.Value("string"),
        }
    )
    for name in SPLITS:
        part = frame.loc[split == name, ["text", "label", "group"]].reset_index(drop=True)
        ds = datasets.Dataset.from_pandas(part, features=features, preserve_index=False)
        ds.save_to_disk(str(out / name))


def split_counts(frame: pd.DataFrame, split: pd.Series) -> dict[str, dict[str, int]]:
    """Rows per label in each split, for the validation report."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for (name, label), n in frame.groupby([split, frame["label"]]).size().items():
        counts[name][label] = int(n)
    return {name: dict(sorted(counts[name].items())) for name in SPLITS if name in counts}
