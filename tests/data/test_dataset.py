"""Unit tests of normalisation and the grouped, stratified split."""

from __future__ import annotations

import pandas as pd
import pytest

from train.dataset import grouped_stratified_split, normalize_text

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("  tl;dr\tpls\n", "tldr pls"),
        ("What's 2+2?", "whats 22"),
        ("ÉTÉ à Paris", "été à paris"),
        ("snake_case vs camelCase", "snakecase vs camelcase"),
        ("¡Hola! ¿Qué tal?", "hola qué tal"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_text_makes_paraphrase_variants_equal() -> None:
    assert normalize_text("Translate: 'good night' to French.") == normalize_text(
        "translate good night to french"
    )


def _frame(groups_per_label: int = 40, group_size: int = 3, labels: int = 4) -> pd.DataFrame:
    rows = []
    for lab in range(labels):
        for g in range(groups_per_label):
            for k in range(1 + (g % group_size)):
                rows.append({"text": f"{lab}-{g}-{k}", "label": f"l{lab}", "group": f"l{lab}g{g}"})
    return pd.DataFrame(rows)


def test_no_group_crosses_splits() -> None:
    frame = _frame()
    split = grouped_stratified_split(frame, FRACTIONS, seed=1)
    assert split.notna().all()
    assert (frame.assign(split=split).groupby("group")["split"].nunique() == 1).all()


def test_split_is_stratified_by_label() -> None:
    frame = _frame(groups_per_label=60)
    split = grouped_stratified_split(frame, FRACTIONS, seed=7)
    shares = frame.assign(split=split).groupby("label")["split"].value_counts(normalize=True)
    for label in frame["label"].unique():
        for name, fraction in FRACTIONS.items():
            # Groups hold up to 3 rows, so a label's share can miss its target by a group or so.
            assert shares[label][name] == pytest.approx(fraction, abs=0.03), (label, name)


def test_split_is_seeded() -> None:
    frame = _frame()
    a = grouped_stratified_split(frame, FRACTIONS, seed=3)
    b = grouped_stratified_split(frame, FRACTIONS, seed=3)
    c = grouped_stratified_split(frame, FRACTIONS, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_split_rejects_fractions_not_summing_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        grouped_stratified_split(_frame(), {"train": 0.8, "validation": 0.1, "test": 0.2}, seed=0)
