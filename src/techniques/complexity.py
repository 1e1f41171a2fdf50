"""``estimate_complexity``: how much a request asks for, from features anyone can see in it.

Points, with the weights and thresholds of ``conf/techniques/complexity.yaml``:

- length: one point for passing each word-count threshold;
- requests beyond the first: question marks and list items (at least one request in all), plus
  sequence words such as "then" or "also" that join one request to the next;
- constraints: words that put a requirement on the answer ("must", "at most", "without");
- code present: a fenced block, or two or more signs of code (a line opening with a keyword
  such as ``def``, ``class`` or ``SELECT``, a line ending in ``;``, ``{``, ``}`` or ``):``);
- data present: two or more table rows (two or more ``|`` or tabs) or CSV rows (three or more
  short comma-separated cells), or eight or more numbers.

Requests and constraints are read where instructions sit: in a long request, the first and last
``instruction_window`` characters; a document pasted in between is material, not instructions.
Fenced code is left out of that count too. Fewer than ``moderate_from`` points is simple,
``complex_from`` or more complex.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from techniques.config import parse, read_yaml
from techniques.rules import Complexity

_FENCED = re.compile(r"```.*?(?:```|\Z)", re.S)
_QUESTION = re.compile(r"\?+")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*•]|\d{1,3}[.)])[ \t]+\S", re.M)
_CODE_START = re.compile(
    r"^[ \t]*(?:def |class |import |from \S+ import |#include|function\b|return\b|const |let |"
    r"var |public |private |SELECT\b|INSERT\b|UPDATE\b|CREATE\b|for ?\(|if ?\(|while ?\()",
    re.M,
)
_CODE_END = re.compile(r"(?:[;{}]|\):)[ \t]*$", re.M)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CSV_CELL_WORDS = 3  # a CSV cell is short: at most this many words


class ComplexityConfig(BaseModel):
    """The weights and thresholds of ``complexity.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    word_thresholds: tuple[Annotated[int, Field(gt=0)], ...]
    max_request_points: Annotated[int, Field(ge=0)]
    max_constraint_points: Annotated[int, Field(ge=0)]
    code_points: Annotated[int, Field(ge=0)]
    data_points: Annotated[int, Field(ge=0)]
    moderate_from: Annotated[int, Field(ge=1)]
    complex_from: Annotated[int, Field(ge=1)]
    instruction_window: Annotated[int, Field(gt=0)]
    sequence_words: tuple[Annotated[str, Field(min_length=1)], ...]
    constraint_words: tuple[Annotated[str, Field(min_length=1)], ...]

    @model_validator(mode="after")
    def _ordered(self) -> ComplexityConfig:
        if list(self.word_thresholds) != sorted(set(self.word_thresholds)):
            raise ValueError("word_thresholds must be increasing")
        if self.complex_from <= self.moderate_from:
            raise ValueError("complex_from must be greater than moderate_from")
        return self


@dataclass(frozen=True)
class ComplexityFeatures:
    """What was seen in a request; ``points`` sums them as the config weighs them."""

    words: int
    requests: int
    constraints: int
    has_code: bool
    has_data: bool
    points: int


class ComplexityEstimator:
    """Scores requests with one :class:`ComplexityConfig`."""

    def __init__(self, config: ComplexityConfig) -> None:
        self.config = config
        # One pass over lower-cased text finds both kinds of cue (case-insensitive matching is
        # several times slower in ``re``); longest first, so "must not" is one cue, not two.
        self._cues = re.compile(
            rf"\b(?:(?P<sequence>{_alternatives(config.sequence_words)})"
            rf"|(?P<constraint>{_alternatives(config.constraint_words)}))\b"
        )

    @classmethod
    def from_file(cls, path: Path) -> ComplexityEstimator:
        return cls(parse(ComplexityConfig, read_yaml(path), path))

    def instruction_text(self, text: str) -> str:
        """The part of ``text`` read for instructions: all of it, or its two ends if long."""
        window = self.config.instruction_window
        if len(text) <= 2 * window:
            return text
        return f"{text[:window]}\n{text[-window:]}"

    def features(self, text: str) -> ComplexityFeatures:
        """Every feature of ``text`` and the points they add up to."""
        seen: dict[str, int | bool] = {}
        points = 0
        for name, value, gained in self._scored(text):
            seen[name] = value
            points += gained
        return ComplexityFeatures(**seen, points=points)  # type: ignore[arg-type]

    def estimate(self, text: str) -> Complexity:
        """``"simple"``, ``"moderate"`` or ``"complex"`` for ``text``."""
        points = 0
        for _, _, gained in self._scored(text):
            points += gained
            if points >= self.config.complex_from:  # more cannot change the answer
                return "complex"
        return "moderate" if points >= self.config.moderate_from else "simple"

    def _scored(self, text: str) -> Iterator[tuple[str, int | bool, int]]:
        """(feature, value, points) pairs, cheapest first so estimate() can stop early."""
        cfg = self.config
        words = len(text.split())
        yield "words", words, sum(words > threshold for threshold in cfg.word_thresholds)
        requests, constraints = self._requests_and_constraints(text)
        yield "requests", requests, min(requests - 1, cfg.max_request_points)
        yield "constraints", constraints, min(constraints, cfg.max_constraint_points)
        has_code = _has_code(text)
        yield "has_code", has_code, cfg.code_points if has_code else 0
        has_data = _has_data(text)
        yield "has_data", has_data, cfg.data_points if has_data else 0

    def _requests_and_constraints(self, text: str) -> tuple[int, int]:
        prose = self.instruction_text(text)
        if "```" in prose:
            prose = _FENCED.sub(" ", prose)
        asked = len(_QUESTION.findall(prose)) + len(_LIST_ITEM.findall(prose))
        sequence = constraints = 0
        for match in self._cues.finditer(prose.lower()):
            if match.lastgroup == "sequence":
                sequence += 1
            else:
                constraints += 1
        return max(1, asked) + sequence, constraints


def _has_code(text: str) -> bool:
    if "```" in text:
        return True
    signs = 0
    for pattern in (_CODE_START, _CODE_END):
        signs += sum(1 for _ in islice(pattern.finditer(text), 2 - signs))
        if signs >= 2:
            return True
    return False


def _has_data(text: str) -> bool:
    if sum(1 for _ in islice(_NUMBER.finditer(text), 8)) >= 8:
        return True
    rows = 0
    for line in text.splitlines():
        if _is_row(line):
            rows += 1
            if rows == 2:
                return True
    return False


def _is_row(line: str) -> bool:
    if line.count("|") >= 2 or line.count("\t") >= 2:
        return True
    if line.count(",") < 2:
        return False
    return all(len(cell.split()) <= _CSV_CELL_WORDS for cell in line.split(","))


def _alternatives(words: Sequence[str]) -> str:
    ordered = sorted({word.lower() for word in words}, key=len, reverse=True)
    return "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in ordered)
