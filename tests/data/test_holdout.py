"""The held-out prompt sets of ``conf/evaluate.yaml`` stay apart from the training data.

They only measure generalisation while no row of theirs, nor a near-copy of one, is in
``data/raw/prompt_intents.csv``; a new training row that copies a held-out prompt fails here.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest

from contract import load_labels, project_root
from train.config import compose
from train.dataset import normalize_text

RAW = project_root() / "data" / "raw" / "prompt_intents.csv"
NEAR_COPY = 0.8  # token Jaccard at or above which two prompts count as the same prompt
# A held-out prompt of at least MIN_TOKENS words whose words are nearly all inside a training
# prompt at most twice as long is the same prompt with a few words added ("X — what's that?").
CONTAINED = 0.9
MIN_TOKENS = 4


def _holdout_sets() -> dict[str, Path]:
    cfg = compose("evaluate")
    return {name: Path(path) for name, path in cfg.holdout.items()}


HOLDOUT = _holdout_sets()


def _tokens(text: str) -> frozenset[str]:
    return frozenset(normalize_text(text).split())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def same_prompt(held: frozenset[str], other: frozenset[str]) -> bool:
    """Token Jaccard at ``NEAR_COPY`` or more, or ``held`` nearly contained in ``other``."""
    if jaccard(held, other) >= NEAR_COPY:
        return True
    return (
        len(held) >= MIN_TOKENS
        and len(other) <= 2 * len(held)
        and len(held & other) / len(held) >= CONTAINED
    )


def near_copies(texts: list[str], others: list[str]) -> list[tuple[str, str]]:
    """Pairs (text, other) that are the same prompt by ``same_prompt``."""
    other_tokens = [(o, _tokens(o)) for o in others]
    hits = []
    for text in texts:
        tokens = _tokens(text)
        hits += [(text, o) for o, ot in other_tokens if same_prompt(tokens, ot)]
    return hits


def test_jaccard_flags_a_one_word_edit_and_spares_a_new_prompt() -> None:
    assert near_copies(["how do tides work today"], ["how do the tides work today"]) != []
    assert near_copies(["how do tides work"], ["write a poem about tides"]) == []


def test_a_held_out_prompt_inside_a_training_prompt_is_a_copy() -> None:
    held = ["Kein Anschluss unter dieser Nummer"]
    assert near_copies(held, ["'Kein Anschluss unter dieser Nummer' - what's that?"]) != []
    # Short prompts and long texts that merely mention the words are not copies.
    assert near_copies(["volcanoes"], ["why do volcanoes erupt"]) == []
    long = "a long pasted letter that happens to say kein anschluss unter dieser nummer " * 3
    assert near_copies(held, [long]) == []


def test_evaluate_config_names_at_least_two_holdout_sets() -> None:
    assert len(HOLDOUT) >= 2
    assert all(path.is_file() for path in HOLDOUT.values()), HOLDOUT


@pytest.mark.parametrize("name", sorted(HOLDOUT))
def test_holdout_rows_are_labelled_and_cover_every_intent(name: str) -> None:
    frame = pd.read_csv(HOLDOUT[name])
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].str.strip().str.len().gt(0).all()
    assert set(frame["label"]) == set(load_labels())


@pytest.mark.parametrize("name", sorted(HOLDOUT))
def test_holdout_shares_no_prompt_with_the_training_data(name: str) -> None:
    held = pd.read_csv(HOLDOUT[name])["text"].tolist()
    raw = pd.read_csv(RAW)["text"].tolist()
    same = {normalize_text(t) for t in held} & {normalize_text(t) for t in raw}
    assert not same, f"{name}: normalised text also in {RAW.name}: {sorted(same)[:5]}"
    hits = near_copies(held, raw)
    assert not hits, f"{name}: near-copies of training rows: {hits[:5]}"


def test_holdout_sets_do_not_repeat_each_other() -> None:
    for (a, path_a), (b, path_b) in combinations(sorted(HOLDOUT.items()), 2):
        texts_a = pd.read_csv(path_a)["text"].tolist()
        hits = near_copies(texts_a, pd.read_csv(path_b)["text"].tolist())
        assert not hits, f"{a} and {b} share prompts: {hits[:5]}"
