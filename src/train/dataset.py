"""Reading the raw prompt CSV, normalising text, and the stable grouped split."""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import itertools
import re
import unicodedata
from collections import defaultdict
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


def grouped_split(frame: pd.DataFrame, fractions: Mapping[str, float], seed: int) -> pd.Series:
    """Assign every row to a split by its ``group`` alone, so that no group crosses splits and
    adding or removing other groups never moves a group (``{"train": .8, "validation": .1,
    "test": .1}``, in that order). Returns the split name per row.

    Each group's sha256 of ``"<seed>:<group>"`` gives a point in [0, 1); the fractions cut that
    interval into consecutive ranges. Stable splits keep a test prompt in the test split across
    data versions, so a model trained on an older version has never seen the newer validation or
    test rows, and models trained on different versions can be scored on one split. Labels are
    shared out by chance rather than exactly: with hundreds of groups per intent, each intent's
    share of a split is within a few points of the fraction.
    """
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6 or any(f < 0 for f in fractions.values()):
        raise ValueError(
            f"split fractions must be non-negative and sum to 1, got {dict(fractions)}"
        )
    names = list(fractions)
    bounds = list(itertools.accumulate(fractions[name] for name in names))

    def split_of(group: object) -> str:
        digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        return names[min(bisect.bisect_right(bounds, point), len(names) - 1)]

    return frame["group"].map(split_of)


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
