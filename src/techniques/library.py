"""The technique library: configuration loaded and checked once, then ``enhance`` and friends.

``TechniqueLibrary.load()`` reads ``intents.yaml`` and ``techniques/`` under the configuration
root (see :mod:`techniques.config`), checks every file and every rule, and renders every possible
selection. Any configuration problem is a :class:`TechniqueConfigError` from ``load``; requests
can then only fail for bad arguments.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

from contract import check_text
from techniques.assembly import TAG, Plan, TechniqueRef, extract_user_input
from techniques.catalogue import Technique, load_catalogue
from techniques.complexity import ComplexityEstimator
from techniques.config import conf_dir, load_intents, parse, read_yaml
from techniques.examples import ExampleBank, content_words
from techniques.plans import build_plans
from techniques.rules import COMPLEXITIES, Complexity, Rules


@dataclass(frozen=True)
class EnhancedPrompt:
    """An enhanced prompt. ``text`` is the prompt to send; ``user_input`` the request exactly as
    given; ``techniques`` what was applied, in priority order; ``examples`` the few-shot examples
    used; ``intent`` and ``confidence`` what the prompt was enhanced for."""

    text: str
    techniques: tuple[TechniqueRef, ...]
    complexity: Complexity
    intent: str
    confidence: float
    user_input: str
    examples: tuple[str, ...] = ()


class TechniqueLibrary:
    """A loaded, checked configuration. Build one with :meth:`load`."""

    def __init__(
        self,
        intents: tuple[str, ...],
        catalogue: Mapping[str, Technique],
        rules: Rules,
        bank: ExampleBank,
        estimator: ComplexityEstimator,
        source: str = "rules.yaml",
    ) -> None:
        self.intents = intents
        self.techniques = dict(catalogue)
        self.rules = rules
        self.bank = bank
        self.estimator = estimator
        self._known_intents = frozenset(intents)
        self._plans, self._low_plans = build_plans(intents, catalogue, rules, bank, source)

    @classmethod
    def load(cls, root: str | Path | None = None) -> TechniqueLibrary:
        """Read and check the configuration under ``root`` (default: :func:`conf_dir`)."""
        root = Path(root) if root is not None else conf_dir()
        folder = root / "techniques"
        intents = load_intents(root)
        rules_path = folder / "rules.yaml"
        return cls(
            intents,
            load_catalogue(folder / "catalogue"),
            parse(Rules, read_yaml(rules_path), rules_path),
            ExampleBank.from_file(folder / "examples.yaml", intents),
            ComplexityEstimator.from_file(folder / "complexity.yaml"),
            str(rules_path),
        )

    def select(
        self,
        intent: str,
        confidence: float,
        complexity: Complexity,
        *,
        low_confidence: bool | None = None,
    ) -> tuple[TechniqueRef, ...]:
        """The techniques for a request of this intent, confidence and complexity, highest
        priority first, e.g. ``select("reasoning", 0.9, "simple")``. ``low_confidence`` is the
        classifier's own flag; when given it decides between the generic and the intent's plan
        (otherwise ``confidence_threshold`` of rules.yaml does)."""
        self._check_intent(intent)
        self._check_confidence(confidence)
        if complexity not in COMPLEXITIES:
            raise ValueError(f"complexity must be one of {COMPLEXITIES}, got {complexity!r}")
        return self._plan(intent, confidence, complexity, low_confidence).techniques

    def estimate_complexity(self, text: str) -> Complexity:
        """``"simple"``, ``"moderate"`` or ``"complex"``; see :mod:`techniques.complexity`."""
        check_text(text)
        return self.estimator.estimate(text)

    def enhance(
        self,
        text: str,
        intent: str,
        confidence: float = 1.0,
        *,
        low_confidence: bool | None = None,
    ) -> EnhancedPrompt:
        """Rewrite request ``text`` with the techniques its intent calls for. The request is kept
        verbatim between ``<user_input>`` tags; the same arguments give the same prompt; a prompt
        this library produced comes back unchanged, whatever intent is given. A prediction
        flagged ``low_confidence`` by the classifier gets the generic plan, not the intent's."""
        check_text(text)
        self._check_intent(intent)
        self._check_confidence(confidence)
        if f"<{TAG}" in text:
            found = self._recognise(text)
            if found is not None:
                plan, complexity, inner, examples = found
                return EnhancedPrompt(
                    text, plan.techniques, complexity, intent, confidence, inner, examples
                )
        complexity = self.estimator.estimate(text)
        plan = self._plan(intent, confidence, complexity, low_confidence)
        examples = self._examples(plan, intent, text)
        return EnhancedPrompt(
            plan.render(text, examples),
            plan.techniques,
            complexity,
            intent,
            confidence,
            text,
            examples,
        )

    def is_enhanced(self, text: str) -> bool:
        """Whether ``text`` is a prompt this library produced (and would return unchanged)."""
        return isinstance(text, str) and f"<{TAG}" in text and self._recognise(text) is not None

    def _recognise(self, prompt: str) -> tuple[Plan, Complexity, str, tuple[str, ...]] | None:
        inner = extract_user_input(prompt)
        if not inner or inner.isspace():
            return None
        complexity = self.estimator.estimate(inner)
        candidates = [(i, self._plans[i, complexity]) for i in self.intents]
        candidates.append(("", self._low_plans[complexity]))
        words: frozenset[str] | None = None
        for intent, plan in candidates:
            if not prompt.startswith(plan.head):  # cheap rejection before a full render
                continue
            examples: tuple[str, ...] = ()
            if plan.examples_heading is not None:
                words = words if words is not None else self._words(inner)
                examples = self.bank.choose(intent, words)
            if plan.render(inner, examples) == prompt:
                return plan, complexity, inner, examples
        return None

    def _plan(
        self,
        intent: str,
        confidence: float,
        complexity: Complexity,
        low_confidence: bool | None = None,
    ) -> Plan:
        if low_confidence is None:
            low_confidence = confidence < self.rules.confidence_threshold
        if not isinstance(low_confidence, bool):
            raise TypeError(f"low_confidence must be true, false or None, got {low_confidence!r}")
        return self._low_plans[complexity] if low_confidence else self._plans[intent, complexity]

    def _examples(self, plan: Plan, intent: str, text: str) -> tuple[str, ...]:
        if plan.examples_heading is None:
            return ()
        return self.bank.choose(intent, self._words(text))

    def _words(self, text: str) -> frozenset[str]:
        # Similarity reads the instruction text, so a long pasted document does not drown it.
        return content_words(self.estimator.instruction_text(text))

    def _check_intent(self, intent: object) -> None:
        if not isinstance(intent, str) or intent not in self._known_intents:
            raise ValueError(f"unknown intent {intent!r}; expected one of {list(self.intents)}")

    @staticmethod
    def _check_confidence(confidence: object) -> None:
        if isinstance(confidence, bool) or not isinstance(confidence, Real):
            raise TypeError(f"confidence must be a number, got {type(confidence).__name__}")
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


@functools.cache
def default_library() -> TechniqueLibrary:
    """The library for the configuration root of :func:`techniques.config.conf_dir`, loaded on
    first use and kept (``default_library.cache_clear()`` forgets it)."""
    return TechniqueLibrary.load()


def enhance(
    text: str, intent: str, confidence: float = 1.0, *, low_confidence: bool | None = None
) -> EnhancedPrompt:
    """:meth:`TechniqueLibrary.enhance` with the default library."""
    return default_library().enhance(text, intent, confidence, low_confidence=low_confidence)


def select_techniques(
    intent: str, confidence: float, complexity: Complexity
) -> tuple[TechniqueRef, ...]:
    """:meth:`TechniqueLibrary.select` with the default library."""
    return default_library().select(intent, confidence, complexity)


def estimate_complexity(text: str) -> Complexity:
    """:meth:`TechniqueLibrary.estimate_complexity` with the default library."""
    return default_library().estimate_complexity(text)
