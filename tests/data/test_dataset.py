"""Unit tests of normalisation and the stable grouped split."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.dataset import grouped_split, normalize_text

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
    split = grouped_split(frame, FRACTIONS, seed=1)
    assert split.notna().all() and set(split) == set(FRACTIONS)
    assert (frame.assign(split=split).groupby("group")["split"].nunique() == 1).all()


def test_split_shares_follow_the_fractions_per_label() -> None:
    frame = _frame(groups_per_label=2000, group_size=1)
    split = grouped_split(frame, FRACTIONS, seed=7)
    shares = frame.assign(split=split).groupby("label")["split"].value_counts(normalize=True)
    for label in frame["label"].unique():
        for name, fraction in FRACTIONS.items():
            # A binomial share over 2,000 groups: standard error under 0.01.
            assert shares[label][name] == pytest.approx(fraction, abs=0.03), (label, name)


def test_split_is_seeded() -> None:
    frame = _frame()
    a = grouped_split(frame, FRACTIONS, seed=3)
    b = grouped_split(frame, FRACTIONS, seed=3)
    c = grouped_split(frame, FRACTIONS, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


@settings(max_examples=50, deadline=None)
@given(
    groups=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=60, unique=True),
    added=st.lists(st.text(min_size=1, max_size=12), max_size=60),
    seed=st.integers(0, 2**31),
)
def test_adding_groups_never_moves_an_existing_group(groups, added, seed) -> None:
    before = pd.DataFrame({"group": groups, "label": "l0", "text": groups})
    grown = pd.concat(
        [pd.DataFrame({"group": added, "label": "l1", "text": added}), before], ignore_index=True
    ).sample(frac=1.0, random_state=seed % 1000)  # new rows anywhere, any order
    old = dict(zip(before["group"], grouped_split(before, FRACTIONS, seed), strict=True))
    new = dict(zip(grown["group"], grouped_split(grown, FRACTIONS, seed), strict=True))
    assert all(new[group] == split for group, split in old.items())


def test_split_rejects_fractions_not_summing_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        grouped_split(_frame(), {"train": 0.8, "validation": 0.1, "test": 0.2}, seed=0)
