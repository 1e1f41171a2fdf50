"""The technique catalogue: one YAML file per technique under ``conf/techniques/catalogue/``.

A technique fills typed slots with ``string.Template`` texts (``${name}`` placeholders). The
values come from the technique's ``params`` (defaults), the rule that uses it (overrides) and
``${task}``, the intent's task sentence from the rules. The request itself is never a template
value: it is placed verbatim by :mod:`techniques.assembly`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from string import Template
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from techniques.config import parse, read_yaml
from techniques.errors import TechniqueConfigError


class Slot(StrEnum):
    """The parts of an enhanced prompt, in the order they are assembled."""

    ROLE = "role"
    CONTEXT = "context"
    INSTRUCTIONS = "instructions"
    CONSTRAINTS = "constraints"
    EXAMPLES = "examples"
    USER_INPUT = "user_input"
    OUTPUT_FORMAT = "output_format"
    REASONING_TRIGGER = "reasoning_trigger"


# Slots that hold one text: two techniques filling the same one must be declared incompatible.
SINGLE_SLOTS = frozenset({Slot.ROLE, Slot.EXAMPLES, Slot.OUTPUT_FORMAT, Slot.REASONING_TRIGGER})
TASK = "task"  # the template variable holding the intent's task sentence
SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"

# None marks a parameter every rule using the technique must supply.
ParamValue = StrictBool | StrictInt | StrictStr | list[StrictStr] | None


class Technique(BaseModel):
    """One catalogue entry, as read from ``catalogue/<id>.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    version: Annotated[str, Field(pattern=SEMVER)]
    description: Annotated[str, Field(min_length=1)]
    evidence: Annotated[str, Field(min_length=1)]
    safe: bool = False  # fit to apply when the intent is only a guess
    params: dict[str, ParamValue] = {}
    slots: Annotated[dict[Slot, str], Field(min_length=1)]

    def states_task(self) -> bool:
        """Whether the technique writes the intent's task sentence into the prompt."""
        return any(TASK in Template(text).get_identifiers() for text in self.slots.values())


def load_catalogue(folder: Path) -> dict[str, Technique]:
    """Read and check every ``*.yaml`` in ``folder``; keys are technique ids, sorted."""
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise TechniqueConfigError(f"{folder}: no technique files (*.yaml) found")
    catalogue: dict[str, Technique] = {}
    for path in files:
        technique = parse(Technique, read_yaml(path), path)
        if technique.id != path.stem:
            raise TechniqueConfigError(
                f"{path}: id '{technique.id}' must match the file name '{path.stem}'"
            )
        _check_templates(technique, path)
        catalogue[technique.id] = technique
    return catalogue


def _check_templates(technique: Technique, path: Path) -> None:
    if TASK in technique.params:
        raise TechniqueConfigError(f"{path}: '{TASK}' is reserved for the rule's task sentence")
    if Slot.USER_INPUT in technique.slots:
        raise TechniqueConfigError(
            f"{path}: the user_input slot holds the request itself; no technique may fill it"
        )
    known = set(technique.params) | {TASK}
    for slot, text in technique.slots.items():
        template = Template(text)
        if not template.is_valid():
            raise TechniqueConfigError(
                f"{path}: slot '{slot}' does not render: malformed placeholder in {text!r} "
                "(write ${name} for a value, $$ for a literal dollar sign)"
            )
        unknown = sorted(set(template.get_identifiers()) - known)
        if unknown:
            raise TechniqueConfigError(
                f"{path}: slot '{slot}' does not render: no value for {unknown}; declare them "
                f"under params (null if every rule must supply one) or use ${{{TASK}}}"
            )


def merge_params(
    technique: Technique, overrides: Mapping[str, ParamValue], where: str
) -> dict[str, ParamValue]:
    """The technique's defaults updated by a rule's ``overrides``, checked name by name."""
    merged = dict(technique.params)
    for name, value in overrides.items():
        if name not in technique.params:
            raise TechniqueConfigError(
                f"{where}: technique '{technique.id}' has no parameter '{name}' "
                f"(it has {sorted(technique.params) or 'none'})"
            )
        default = technique.params[name]
        if default is not None and value is not None and type(value) is not type(default):
            raise TechniqueConfigError(
                f"{where}: parameter '{name}' of '{technique.id}' must be "
                f"{type(default).__name__}, got {value!r}"
            )
        merged[name] = value
    return merged


def render_slots(
    technique: Technique, params: Mapping[str, ParamValue], task: str, where: str
) -> dict[Slot, str]:
    """Fill every slot template of ``technique``; a missing value is a TechniqueConfigError."""
    values = {name: _as_text(value) for name, value in params.items() if value is not None}
    values[TASK] = task
    rendered: dict[Slot, str] = {}
    for slot, text in technique.slots.items():
        try:
            rendered[slot] = Template(text).substitute(values)
        except KeyError as exc:
            raise TechniqueConfigError(
                f"{where}: template of '{technique.id}' slot '{slot}' does not render: "
                f"parameter {exc.args[0]!r} has no default, so the rule must give it under params"
            ) from None
    return rendered


def _as_text(value: bool | int | str | list[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(f"- {item}" for item in value)
    return str(value)
