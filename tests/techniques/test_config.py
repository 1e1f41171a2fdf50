"""A broken configuration fails when the library loads, with a message naming the file, the
entry and what to change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from techniques import CONF_DIR_ENV, TechniqueConfigError, TechniqueLibrary, conf_dir


def _yaml_edit(relative: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / relative
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")

    return edit


def _text_edit(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


def _intent_rule(name: str) -> Callable[[dict], dict]:
    return lambda rules: rules["intents"][name]


def _set(getter, key, value):
    def change(data: dict) -> None:
        getter(data)[key] = value

    return change


RULES = "techniques/rules.yaml"
CASES = {
    "unknown technique in a rule": (
        _yaml_edit(
            RULES,
            lambda r: r["intents"]["reasoning"]["techniques"].append(
                {"id": "telepathy", "priority": 5}
            ),
        ),
        r"rules\.yaml: intents\.reasoning\.techniques\[5\]: unknown technique 'telepathy'",
    ),
    "template with an undeclared placeholder": (
        _text_edit("techniques/catalogue/role_play.yaml", "${persona}", "${persona} in ${era}"),
        r"role_play\.yaml: slot 'role' does not render: no value for \['era'\]",
    ),
    "template with a malformed placeholder": (
        _text_edit("techniques/catalogue/zero_shot.yaml", '"${task}"', '"${task} costs $5"'),
        r"zero_shot\.yaml: slot 'instructions' does not render: malformed placeholder",
    ),
    "required parameter not given by the rule": (
        _yaml_edit(
            RULES,
            lambda r: r["intents"]["conversation"]["techniques"][1].pop("params"),
        ),
        r"intents\.conversation \(simple\): template of 'role_play' slot 'role' does not render: "
        r"parameter 'persona' has no default",
    ),
    "parameter the technique does not have": (
        _yaml_edit(
            RULES,
            lambda r: r["intents"]["conversation"]["techniques"][1]["params"].update(mood="odd"),
        ),
        r"technique 'role_play' has no parameter 'mood'",
    ),
    "parameter of the wrong type": (
        _text_edit(RULES, "          strict: true", '          strict: "yes"'),
        r"intents\.translation\.techniques\[2\]: parameter 'strict' of 'structured_output' must "
        r"be bool",
    ),
    "only_if value of the wrong type": (
        _text_edit(RULES, "{ strict: true }", '{ strict: "true" }'),
        r"incompatible\[0\]: only_if value for 'structured_output\.strict' must be bool",
    ),
    "intent without a rule": (
        _yaml_edit(RULES, lambda r: r["intents"].pop("conversation")),
        r"no rule for intents \['conversation'\]",
    ),
    "rule for an intent that does not exist": (
        _yaml_edit(RULES, lambda r: r["intents"].update(poetry=r["intents"]["creative_writing"])),
        r"rules for unknown intents \['poetry'\]",
    ),
    "version that is not semver": (
        _text_edit("techniques/catalogue/react.yaml", "version: 1.0.0", "version: v1"),
        r"react\.yaml: version: String should match pattern",
    ),
    "misspelt key in a technique": (
        _text_edit("techniques/catalogue/react.yaml", "slots:", "slot:"),
        r"react\.yaml: .*slot: Extra inputs are not permitted",
    ),
    "id that is not the file name": (
        _text_edit("techniques/catalogue/react.yaml", "id: react", "id: re_act"),
        r"id 're_act' must match the file name 'react'",
    ),
    "two reasoning triggers not declared incompatible": (
        _yaml_edit(RULES, lambda r: r["incompatible"].pop(1)),
        r"'chain_of_thought' and 'step_by_step' both fill the \['reasoning_trigger'\] slot",
    ),
    "incompatible pair naming an unknown technique": (
        _yaml_edit(RULES, lambda r: r["incompatible"].append({"techniques": ["react", "magic"]})),
        r"incompatible\[10\]: unknown techniques \['magic'\]",
    ),
    "unsafe technique below the confidence threshold": (
        _yaml_edit(
            RULES,
            lambda r: r["low_confidence"]["techniques"].append(
                {"id": "chain_of_thought", "priority": 10}
            ),
        ),
        r"low_confidence: \['chain_of_thought'\] are not marked safe",
    ),
    "selection that never states the task": (
        _yaml_edit(
            RULES,
            lambda r: r["intents"]["conversation"]["techniques"][0].update(complexity=["complex"]),
        ),
        r"intents\.conversation \(simple\): no selected technique states the task",
    ),
    "few-shot for an intent without examples": (
        _yaml_edit("techniques/examples.yaml", lambda e: e["intents"].pop("translation")),
        r"intents\.translation \(simple\): a technique that shows examples is selected but "
        r"examples\.yaml has none for translation",
    ),
    "example over the character budget": (
        _yaml_edit("techniques/examples.yaml", _set(lambda e: e, "char_budget", 60)),
        r"examples\.yaml: intents\.question_answering\[0\] is \d+ characters written out, over "
        r"char_budget 60",
    ),
    "example format that does not render": (
        _yaml_edit("techniques/examples.yaml", _set(lambda e: e, "format", "Q: ${question}")),
        r"examples\.yaml: format does not render",
    ),
    "confidence threshold out of range": (
        _yaml_edit(RULES, _set(lambda r: r, "confidence_threshold", 1.5)),
        r"rules\.yaml: confidence_threshold: Input should be less than or equal to 1",
    ),
    "complexity thresholds out of order": (
        _yaml_edit("techniques/complexity.yaml", _set(lambda c: c, "complex_from", 1)),
        r"complexity\.yaml: .*complex_from must be greater than moderate_from",
    ),
    "YAML that does not parse": (
        _text_edit(RULES, "max_techniques: 4", "max_techniques: [4"),
        r"rules\.yaml: not valid YAML",
    ),
    "duplicate intent labels": (
        _text_edit("intents.yaml", "  - reasoning", "  - reasoning\n  - reasoning"),
        r"intents\.yaml: intent labels must be unique",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_configuration_fails_at_load(conf_copy: Path, case: str) -> None:
    edit, message = CASES[case]
    edit(conf_copy)
    with pytest.raises(TechniqueConfigError, match=message):
        TechniqueLibrary.load(conf_copy)


def test_the_unedited_copy_loads(conf_copy: Path) -> None:
    library = TechniqueLibrary.load(conf_copy)
    assert library.enhance("Is 91 prime?", "reasoning").text


def test_missing_folder_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(TechniqueConfigError, match=f"file not found; set {CONF_DIR_ENV}"):
        TechniqueLibrary.load(tmp_path)


def test_conf_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = conf_dir()
    assert (default / "intents.yaml").is_file() and (default / "techniques").is_dir()
    monkeypatch.setenv(CONF_DIR_ENV, str(tmp_path))
    assert conf_dir() == tmp_path
