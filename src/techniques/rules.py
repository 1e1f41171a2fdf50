"""Selection rules, read from ``conf/techniques/rules.yaml``: which techniques an intent calls
for, how complexity gates them, and which pairs may not be combined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from techniques.catalogue import ParamValue, Technique, merge_params
from techniques.errors import TechniqueConfigError

Complexity = Literal["simple", "moderate", "complex"]
COMPLEXITIES: tuple[Complexity, ...] = get_args(Complexity)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Candidate(_Strict):
    """One technique an intent may use, with its priority, gate and parameter overrides."""

    id: str
    priority: int
    complexity: Annotated[tuple[Complexity, ...], Field(min_length=1)] = COMPLEXITIES
    params: dict[str, ParamValue] = {}


class IntentRule(_Strict):
    task: Annotated[str, Field(min_length=1)]  # the sentence that states what is wanted
    techniques: Annotated[tuple[Candidate, ...], Field(min_length=1)]


class Incompatibility(_Strict):
    techniques: tuple[str, str]
    # Technique id -> parameter values; the pair conflicts only when every listed value matches.
    only_if: dict[str, dict[str, ParamValue]] = {}


class Rules(_Strict):
    confidence_threshold: Annotated[float, Field(ge=0.0, le=1.0)]
    max_techniques: Annotated[int, Field(ge=1)]
    incompatible: tuple[Incompatibility, ...] = ()
    low_confidence: IntentRule
    intents: dict[str, IntentRule]


@dataclass(frozen=True)
class Use:
    """A candidate resolved against the catalogue: the technique and its merged parameters."""

    technique: Technique
    priority: int
    complexity: tuple[Complexity, ...]
    params: Mapping[str, ParamValue]


def resolve(rule: IntentRule, catalogue: Mapping[str, Technique], where: str) -> tuple[Use, ...]:
    """The rule's candidates bound to catalogue entries, highest priority first."""
    uses = []
    for i, candidate in enumerate(rule.techniques):
        here = f"{where}.techniques[{i}]"
        technique = catalogue.get(candidate.id)
        if technique is None:
            raise TechniqueConfigError(
                f"{here}: unknown technique '{candidate.id}'; known: {sorted(catalogue)}"
            )
        params = merge_params(technique, candidate.params, here)
        uses.append(Use(technique, candidate.priority, candidate.complexity, params))
    priorities = [use.priority for use in uses]
    if len(set(priorities)) != len(priorities):
        raise TechniqueConfigError(
            f"{where}: priorities must be distinct so the order is unambiguous, got {priorities}"
        )
    return tuple(sorted(uses, key=lambda use: -use.priority))


def conflicts(a: Use, b: Use, pairs: Sequence[Incompatibility]) -> bool:
    """Whether uses ``a`` and ``b`` may not appear in one prompt."""
    ids = {a.technique.id, b.technique.id}
    for pair in pairs:
        if set(pair.techniques) != ids:
            continue
        by_id = {a.technique.id: a.params, b.technique.id: b.params}
        if all(
            by_id[tid].get(name) == value
            for tid, wanted in pair.only_if.items()
            for name, value in wanted.items()
        ):
            return True
    return False


def choose(
    uses: Sequence[Use],
    complexity: Complexity,
    max_count: int,
    pairs: Sequence[Incompatibility],
) -> tuple[Use, ...]:
    """Apply the selection rule to uses already sorted by priority: the gate admits, an
    incompatible or repeated technique is skipped, and at most ``max_count`` are taken."""
    chosen: list[Use] = []
    for use in uses:
        if len(chosen) == max_count:
            break
        if complexity not in use.complexity:
            continue
        if any(use.technique.id == c.technique.id or conflicts(use, c, pairs) for c in chosen):
            continue
        chosen.append(use)
    return tuple(chosen)
