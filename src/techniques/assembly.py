"""How slot texts and the request become one prompt.

The order is fixed: role, context, instructions, constraints, examples, user input, output
format, reasoning trigger. Sections are separated by a blank line; several texts in one slot
(instructions from two techniques, say) go on separate lines in selection order; constraints sit
under a "Constraints:" heading. The request goes between ``<user_input>`` and ``</user_input>``
lines exactly as given: it is never a template value, so ``{x}``, ``{{ y }}``, ``{% z %}`` and
``$var`` in it stay as they are. If the request itself contains the tag, ``user_input_1`` (then
``_2``, ...) is used instead, so the closing tag is always unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from techniques.catalogue import Slot, render_slots
from techniques.errors import TechniqueConfigError
from techniques.examples import SEPARATOR as EXAMPLE_SEPARATOR
from techniques.rules import Use

TAG = "user_input"
CONSTRAINTS_HEADING = "Constraints:"
SECTION_SEPARATOR = "\n\n"
_OPENING = re.compile(rf"<({TAG}(?:_\d+)?)>\n")
_HEAD_SLOTS = (Slot.ROLE, Slot.CONTEXT, Slot.INSTRUCTIONS, Slot.CONSTRAINTS)
_TAIL_SLOTS = (Slot.OUTPUT_FORMAT, Slot.REASONING_TRIGGER)


@dataclass(frozen=True, order=True)
class TechniqueRef:
    """A technique as applied: its catalogue id and version."""

    id: str
    version: str

    def __str__(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class Plan:
    """Everything of a prompt but the request and the chosen examples, rendered at load time."""

    techniques: tuple[TechniqueRef, ...]
    head: str  # role, context, instructions and constraints
    examples_heading: str | None  # set when a technique fills the examples slot
    tail: str  # output format and reasoning trigger

    def render(self, text: str, examples: Sequence[str]) -> str:
        """The prompt for request ``text`` with the given examples (ignored without a heading)."""
        tag = tag_for(text)
        sections = [self.head] if self.head else []
        if self.examples_heading is not None and examples:
            sections.append(self.examples_heading + "\n" + EXAMPLE_SEPARATOR.join(examples))
        sections.append(f"<{tag}>\n{text}\n</{tag}>")
        if self.tail:
            sections.append(self.tail)
        return SECTION_SEPARATOR.join(sections)


def build_plan(uses: Sequence[Use], task: str, where: str) -> Plan:
    """Render the slot texts of ``uses`` (already in selection order) into a :class:`Plan`."""
    filled: dict[Slot, list[str]] = {slot: [] for slot in Slot}
    for use in uses:
        for slot, text in render_slots(use.technique, use.params, task, where).items():
            filled[slot].append(text)
    for slot, texts in filled.items():
        for text in texts:
            if f"<{TAG}" in text or f"{TAG}>" in text:
                raise TechniqueConfigError(
                    f"{where}: slot '{slot}' text may not contain the '{TAG}' tag: {text!r}"
                )
    head = [_section(slot, filled[slot]) for slot in _HEAD_SLOTS if filled[slot]]
    tail = [_section(slot, filled[slot]) for slot in _TAIL_SLOTS if filled[slot]]
    examples = filled[Slot.EXAMPLES]
    return Plan(
        techniques=tuple(TechniqueRef(u.technique.id, u.technique.version) for u in uses),
        head=SECTION_SEPARATOR.join(head),
        examples_heading=examples[0] if examples else None,
        tail=SECTION_SEPARATOR.join(tail),
    )


def _section(slot: Slot, texts: list[str]) -> str:
    body = "\n".join(texts)
    return f"{CONSTRAINTS_HEADING}\n{body}" if slot is Slot.CONSTRAINTS else body


def tag_for(text: str) -> str:
    """The first of ``user_input``, ``user_input_1``, ... that ``text`` does not contain."""
    tag, n = TAG, 0
    while f"{tag}>" in text:
        n += 1
        tag = f"{TAG}_{n}"
    return tag


def extract_user_input(prompt: str) -> str | None:
    """The request inside an enhanced prompt, exactly as it was given; None if there is none."""
    opening = _OPENING.search(prompt)
    if opening is None:
        return None
    start = opening.end()
    # The request never contains its own tag, so the first closing tag after it is the real one.
    end = prompt.find(f"\n</{opening.group(1)}>", start)
    return None if end == -1 else prompt[start:end]
