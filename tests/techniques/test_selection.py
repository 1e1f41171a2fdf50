"""Selection rules: coverage of intents and techniques, the evidence they encode, gates,
confidence threshold, maximum count and incompatible pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from techniques import COMPLEXITIES, TechniqueLibrary, select_techniques

CATALOGUE = {
    "chain_of_thought",
    "few_shot",
    "zero_shot",
    "step_by_step",
    "structured_output",
    "role_play",
    "tree_of_thoughts",
    "self_consistency",
    "constraints",
    "analogical",
    "react",
    "emotional_appeal",
}


def ids(
    library: TechniqueLibrary, intent: str, complexity: str, confidence: float = 1.0
) -> list[str]:
    return [t.id for t in library.select(intent, confidence, complexity)]


def test_catalogue_has_every_technique_with_semver_and_description(
    library: TechniqueLibrary,
) -> None:
    assert set(library.techniques) == CATALOGUE
    for technique in library.techniques.values():
        major, minor, patch = technique.version.split(".")
        assert major.isdigit() and minor.isdigit() and patch.isdigit(), technique.id
        assert len(technique.description) > 40, technique.id


def test_descriptions_say_what_persona_and_tree_prompts_cannot_do(
    library: TechniqueLibrary,
) -> None:
    assert "do not raise accuracy" in library.techniques["role_play"].description
    assert "imitation" in library.techniques["tree_of_thoughts"].description
    assert "imitation" in library.techniques["self_consistency"].description


def test_every_intent_has_a_rule(library: TechniqueLibrary, labels: tuple[str, ...]) -> None:
    assert library.intents == labels
    assert set(library.rules.intents) == set(labels)


def test_every_technique_is_reachable(library: TechniqueLibrary) -> None:
    reached = {
        t.id
        for intent in library.intents
        for complexity in COMPLEXITIES
        for confidence in (0.0, 1.0)
        for t in library.select(intent, confidence, complexity)
    }
    assert reached == CATALOGUE


@pytest.mark.parametrize("intent", ["reasoning", "data_analysis"])
def test_chain_of_thought_for_reasoning_and_computation(
    library: TechniqueLibrary, intent: str
) -> None:
    assert "chain_of_thought" in ids(library, intent, "complex")
    assert "chain_of_thought" in ids(library, intent, "moderate")


@pytest.mark.parametrize(
    "intent",
    ["question_answering", "translation", "conversation", "creative_writing", "summarization"],
)
def test_no_chain_of_thought_for_lookups_translation_or_chitchat(
    library: TechniqueLibrary, intent: str
) -> None:
    for complexity in COMPLEXITIES:
        assert "chain_of_thought" not in ids(library, intent, complexity)


def test_personas_only_where_tone_is_the_task(library: TechniqueLibrary) -> None:
    with_persona = {
        intent
        for intent in library.intents
        for complexity in COMPLEXITIES
        if "role_play" in ids(library, intent, complexity)
    }
    assert with_persona == {"creative_writing", "conversation"}


def test_few_shot_where_form_matters(library: TechniqueLibrary) -> None:
    for intent in ("summarization", "translation", "task_planning"):
        assert ids(library, intent, "simple")[0] == "few_shot"
    assert "few_shot" not in ids(library, "reasoning", "simple")


def test_complexity_gates(library: TechniqueLibrary) -> None:
    assert "self_consistency" in ids(library, "reasoning", "complex")
    assert "self_consistency" not in ids(library, "reasoning", "simple")
    assert "tree_of_thoughts" in ids(library, "creative_writing", "complex")
    assert "tree_of_thoughts" not in ids(library, "creative_writing", "moderate")
    assert "step_by_step" in ids(library, "code_generation", "moderate")
    assert "step_by_step" not in ids(library, "code_generation", "simple")


def test_below_threshold_only_safe_techniques(library: TechniqueLibrary) -> None:
    threshold = library.rules.confidence_threshold
    for intent in library.intents:
        for complexity in COMPLEXITIES:
            low = library.select(intent, threshold - 0.01, complexity)
            assert [t.id for t in low] == ["zero_shot", "constraints"]
            assert all(library.techniques[t.id].safe for t in low)
    # At the threshold itself the intent's own rule applies.
    assert "chain_of_thought" in ids(library, "reasoning", "simple", threshold)


def test_selections_respect_max_and_declared_pairs(library: TechniqueLibrary) -> None:
    pairs = [set(p.techniques) for p in library.rules.incompatible if not p.only_if]
    for intent in library.intents:
        for complexity in COMPLEXITIES:
            chosen = ids(library, intent, complexity)
            assert 1 <= len(chosen) <= library.rules.max_techniques
            assert len(set(chosen)) == len(chosen)
            for pair in pairs:
                assert not pair <= set(chosen), (intent, complexity, pair)


def test_module_function_uses_the_project_configuration(library: TechniqueLibrary) -> None:
    assert select_techniques("reasoning", 0.9, "complex") == library.select(
        "reasoning", 0.9, "complex"
    )


def _edit_rules(root: Path, change) -> TechniqueLibrary:
    path = root / "techniques" / "rules.yaml"
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(rules)
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return TechniqueLibrary.load(root)


def test_chain_of_thought_never_joins_a_strict_answer_only_format(conf_copy: Path) -> None:
    def add_cot_to_translation(rules: dict) -> None:
        rules["intents"]["translation"]["techniques"].append(
            {"id": "chain_of_thought", "priority": 85}
        )

    library = _edit_rules(conf_copy, add_cot_to_translation)
    chosen = ids(library, "translation", "simple")
    assert "chain_of_thought" in chosen
    assert "structured_output" not in chosen  # strict: true in rules.yaml


def test_chain_of_thought_joins_a_non_strict_format(conf_copy: Path) -> None:
    def relax_and_add_cot(rules: dict) -> None:
        techniques = rules["intents"]["translation"]["techniques"]
        for candidate in techniques:
            if candidate["id"] == "structured_output":
                candidate["params"]["strict"] = False
        techniques.append({"id": "chain_of_thought", "priority": 85})

    chosen = ids(_edit_rules(conf_copy, relax_and_add_cot), "translation", "simple")
    assert {"chain_of_thought", "structured_output"} <= set(chosen)


def test_step_by_step_gives_way_to_chain_of_thought(conf_copy: Path) -> None:
    def add_step_by_step(rules: dict) -> None:
        rules["intents"]["reasoning"]["techniques"].append({"id": "step_by_step", "priority": 95})

    chosen = ids(_edit_rules(conf_copy, add_step_by_step), "reasoning", "simple")
    assert "step_by_step" in chosen
    assert "chain_of_thought" not in chosen


def test_max_techniques_keeps_the_highest_priorities(conf_copy: Path) -> None:
    def cap_at_two(rules: dict) -> None:
        rules["max_techniques"] = 2

    library = _edit_rules(conf_copy, cap_at_two)
    assert ids(library, "reasoning", "complex") == ["zero_shot", "chain_of_thought"]


@pytest.mark.parametrize(
    ("intent", "confidence", "complexity", "error", "message"),
    [
        ("telepathy", 1.0, "simple", ValueError, "unknown intent 'telepathy'"),
        (None, 1.0, "simple", ValueError, "unknown intent None"),
        ("reasoning", 1.5, "simple", ValueError, "between 0 and 1"),
        ("reasoning", -0.1, "simple", ValueError, "between 0 and 1"),
        ("reasoning", float("nan"), "simple", ValueError, "between 0 and 1"),
        ("reasoning", True, "simple", TypeError, "must be a number"),
        ("reasoning", "0.9", "simple", TypeError, "must be a number"),
        ("reasoning", 1.0, "hard", ValueError, "complexity must be one of"),
    ],
)
def test_bad_selection_arguments(
    library: TechniqueLibrary, intent, confidence, complexity, error, message
) -> None:
    with pytest.raises(error, match=message):
        library.select(intent, confidence, complexity)
