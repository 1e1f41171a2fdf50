"""Every selection the rules can make, rendered and checked when the library loads.

Selection depends only on (intent, confidence above or below the threshold, complexity), a small
finite set, so all of it is worked out up front: a broken rule fails at load, and a request only
looks its plan up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from techniques.assembly import Plan, build_plan
from techniques.catalogue import SINGLE_SLOTS, Technique
from techniques.errors import TechniqueConfigError
from techniques.examples import ExampleBank
from techniques.rules import COMPLEXITIES, Complexity, Rules, Use, choose, resolve


def build_plans(
    intents: Sequence[str],
    catalogue: Mapping[str, Technique],
    rules: Rules,
    bank: ExampleBank,
    source: str,
) -> tuple[dict[tuple[str, Complexity], Plan], dict[Complexity, Plan]]:
    """Plans per (intent, complexity) above the confidence threshold, and per complexity below
    it. Raises TechniqueConfigError naming ``source`` for any rule that cannot work."""
    _check_coverage(intents, rules, source)
    _check_incompatibilities(catalogue, rules, source)
    plans: dict[tuple[str, Complexity], Plan] = {}
    for intent in intents:
        rule = rules.intents[intent]
        where = f"{source}: intents.{intent}"
        uses = resolve(rule, catalogue, where)
        for complexity in COMPLEXITIES:
            chosen = choose(uses, complexity, rules.max_techniques, rules.incompatible)
            plans[intent, complexity] = _plan(
                chosen, rule.task, f"{where} ({complexity})", bank, intent
            )
    where = f"{source}: low_confidence"
    low_uses = resolve(rules.low_confidence, catalogue, where)
    unsafe = sorted({u.technique.id for u in low_uses if not u.technique.safe})
    if unsafe:
        raise TechniqueConfigError(
            f"{where}: {unsafe} are not marked safe in the catalogue; below the confidence "
            "threshold only techniques that hold whatever the intent may apply"
        )
    low_plans = {
        complexity: _plan(
            choose(low_uses, complexity, rules.max_techniques, rules.incompatible),
            rules.low_confidence.task,
            f"{where} ({complexity})",
            bank,
            None,
        )
        for complexity in COMPLEXITIES
    }
    return plans, low_plans


def _plan(
    chosen: Sequence[Use], task: str, where: str, bank: ExampleBank, intent: str | None
) -> Plan:
    if not any(use.technique.states_task() for use in chosen):
        raise TechniqueConfigError(
            f"{where}: no selected technique states the task (one whose template uses ${{task}}, "
            "such as zero_shot or few_shot); give one a higher priority or a wider gate"
        )
    plan = build_plan(chosen, task, where)
    if plan.examples_heading is not None and (intent is None or not bank.has_examples(intent)):
        raise TechniqueConfigError(
            f"{where}: a technique that shows examples is selected but examples.yaml has none "
            f"for {intent or 'low-confidence requests'}"
        )
    return plan


def _check_coverage(intents: Sequence[str], rules: Rules, source: str) -> None:
    missing = [intent for intent in intents if intent not in rules.intents]
    if missing:
        raise TechniqueConfigError(
            f"{source}: no rule for intents {missing}; add one under intents"
        )
    unknown = sorted(set(rules.intents) - set(intents))
    if unknown:
        raise TechniqueConfigError(
            f"{source}: rules for unknown intents {unknown}; the labels are {list(intents)}"
        )


def _check_incompatibilities(catalogue: Mapping[str, Technique], rules: Rules, source: str) -> None:
    for i, pair in enumerate(rules.incompatible):
        where = f"{source}: incompatible[{i}]"
        unknown = [tid for tid in pair.techniques if tid not in catalogue]
        if unknown:
            raise TechniqueConfigError(f"{where}: unknown techniques {unknown}")
        if pair.techniques[0] == pair.techniques[1]:
            raise TechniqueConfigError(f"{where}: a technique cannot conflict with itself")
        for tid, wanted in pair.only_if.items():
            if tid not in pair.techniques:
                raise TechniqueConfigError(f"{where}: only_if names '{tid}', not one of the pair")
            params = catalogue[tid].params
            extra = sorted(set(wanted) - set(params))
            if extra:
                raise TechniqueConfigError(f"{where}: '{tid}' has no parameters {extra}")
            for name, value in wanted.items():
                # A value of the wrong type would never match, silently disabling the pair.
                if params[name] is not None and type(value) is not type(params[name]):
                    raise TechniqueConfigError(
                        f"{where}: only_if value for '{tid}.{name}' must be "
                        f"{type(params[name]).__name__}, got {value!r}"
                    )
    declared = {frozenset(p.techniques) for p in rules.incompatible if not p.only_if}
    for a, b in combinations(sorted(catalogue), 2):
        shared = sorted(
            str(s) for s in set(catalogue[a].slots) & set(catalogue[b].slots) & SINGLE_SLOTS
        )
        if shared and frozenset((a, b)) not in declared:
            raise TechniqueConfigError(
                f"{source}: '{a}' and '{b}' both fill the {shared} slot, which holds one text; "
                "declare the pair under incompatible"
            )
