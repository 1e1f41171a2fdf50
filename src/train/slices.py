"""Slices of an evaluation set: where the model is weak hides inside an average.

Two kinds, both data in ``conf/evaluate.yaml``: length buckets by word count (terse keyword
prompts behave unlike pasted paragraphs), and the boundary groups of the taxonomy, picked out by
a regular expression over the prompt (as Made-With-ML slices with snorkel's slicing functions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from train.scoring import classification_scores


def word_count(text: str) -> int:
    return len(text.split())


def slice_masks(texts: Sequence[str], spec: Mapping) -> dict[str, np.ndarray]:
    """One boolean mask per slice named in ``spec``: ``length_buckets`` (name → [min, max]
    words, max null for no bound) and ``patterns`` (name → case-insensitive regex)."""
    words = np.array([word_count(text) for text in texts])
    masks: dict[str, np.ndarray] = {}
    for name, (low, high) in (spec.get("length_buckets") or {}).items():
        upper = np.inf if high is None else high
        masks[name] = (words >= low) & (words <= upper)
    for name, pattern in (spec.get("patterns") or {}).items():
        regex = re.compile(pattern, re.IGNORECASE)
        masks[name] = np.array([bool(regex.search(text)) for text in texts], dtype=bool)
    return masks


def slice_scores(
    texts: Sequence[str], refs: np.ndarray, probs: np.ndarray, spec: Mapping
) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 (over the intents present in the slice) per slice, with its size;
    an empty slice is reported with ``samples`` 0 and no scores."""
    results: dict[str, dict[str, float]] = {}
    for name, mask in slice_masks(texts, spec).items():
        count = int(mask.sum())
        if not count:
            results[name] = {"samples": 0}
            continue
        present = sorted(set(refs[mask].tolist()) | set(probs[mask].argmax(1).tolist()))
        scores = classification_scores(refs[mask], probs[mask], labels=present)
        results[name] = {**scores, "samples": count}
    return results
