"""The few-shot bank of ``conf/techniques/examples.yaml`` and how examples are chosen.

Examples are ranked by word overlap (Jaccard, common words left out) with the request's
instruction text (its two ends when it is long, so a pasted document does not drown the
instruction), ties in bank order; the best are taken while they fit ``char_budget`` and
``max_examples``, and written least similar first so the closest sits next to the request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from techniques.config import parse, read_yaml
from techniques.errors import TechniqueConfigError

SEPARATOR = "\n\n"  # between two examples; counted against the budget
_TOKEN = re.compile(r"\w+")
# Words too common to say two requests are alike.
_COMMON_WORDS = (
    "a an and are as at be by can do for from how i in is it me my of on or please the this "
    "to what with you your"
)
_COMMON = frozenset(_COMMON_WORDS.split())


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Annotated[str, Field(min_length=1)]
    output: Annotated[str, Field(min_length=1)]


class ExampleBankConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    char_budget: Annotated[int, Field(gt=0)]
    max_examples: Annotated[int, Field(ge=1)]
    format: Annotated[str, Field(min_length=1)]
    intents: dict[str, tuple[Example, ...]]


@dataclass(frozen=True)
class _Entry:
    text: str  # the example as written into the prompt
    words: frozenset[str]


def content_words(text: str) -> frozenset[str]:
    """Lower-cased word tokens of ``text`` without the most common English words."""
    return frozenset(_TOKEN.findall(text.lower())) - _COMMON


class ExampleBank:
    """Examples per intent, rendered once at load time."""

    def __init__(self, config: ExampleBankConfig, path: Path, intents: Sequence[str]) -> None:
        self.char_budget = config.char_budget
        self.max_examples = config.max_examples
        template = Template(config.format)
        if not template.is_valid() or set(template.get_identifiers()) != {"input", "output"}:
            raise TechniqueConfigError(
                f"{path}: format does not render: it must use exactly ${{input}} and ${{output}} "
                f"(and $$ for a literal dollar sign), got {config.format!r}"
            )
        unknown = sorted(set(config.intents) - set(intents))
        if unknown:
            raise TechniqueConfigError(
                f"{path}: examples for unknown intents {unknown}; known: {list(intents)}"
            )
        self._entries: dict[str, tuple[_Entry, ...]] = {}
        for intent, examples in config.intents.items():
            entries = []
            for i, example in enumerate(examples):
                text = template.substitute(input=example.input, output=example.output)
                if len(text) > self.char_budget:
                    raise TechniqueConfigError(
                        f"{path}: intents.{intent}[{i}] is {len(text)} characters written out, "
                        f"over char_budget {self.char_budget}; shorten it or raise the budget"
                    )
                entries.append(_Entry(text, content_words(example.input)))
            self._entries[intent] = tuple(entries)

    @classmethod
    def from_file(cls, path: Path, intents: Sequence[str]) -> ExampleBank:
        return cls(parse(ExampleBankConfig, read_yaml(path), path), path, intents)

    def has_examples(self, intent: str) -> bool:
        return bool(self._entries.get(intent))

    def all_examples(self) -> dict[str, tuple[str, ...]]:
        """Every example as written into a prompt, per intent."""
        return {intent: tuple(e.text for e in entries) for intent, entries in self._entries.items()}

    def choose(self, intent: str, words: frozenset[str]) -> tuple[str, ...]:
        """The examples for a request with content ``words``, in prompt order."""
        entries = self._entries.get(intent, ())
        ranked = sorted(range(len(entries)), key=lambda i: (-_similarity(words, entries[i]), i))
        chosen: list[str] = []
        used = 0
        for i in ranked:
            if len(chosen) == self.max_examples:
                break
            cost = len(entries[i].text) + (len(SEPARATOR) if chosen else 0)
            if used + cost <= self.char_budget:
                chosen.append(entries[i].text)
                used += cost
        return tuple(reversed(chosen))


def _similarity(words: frozenset[str], entry: _Entry) -> float:
    union = len(words | entry.words)
    return len(words & entry.words) / union if union else 0.0
