"""Golden snapshots: one enhanced prompt per intent (and one below the confidence threshold),
stored under tests/techniques/golden/. A change to templates, rules or assembly shows up here as
a diff. After an intended change, regenerate and review the files:

    UPDATE_GOLDEN=1 python -m pytest tests/techniques/test_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from techniques import EnhancedPrompt, TechniqueLibrary

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# (snapshot name, request, intent, confidence)
CASES = [
    ("question_answering", "Why do onions make people cry?", "question_answering", 0.97),
    (
        "creative_writing",
        "Write a short story about a lighthouse keeper who finds a message in a bottle. It must "
        "stay under 400 words, avoid cliches, and then give it a title. Dialogue should sound "
        "like 1920s Maine; the ending has to be bittersweet, not tragic, and include the line "
        '"the lamp remembers".',
        "creative_writing",
        0.91,
    ),
    (
        "code_generation",
        "Why does this raise KeyError?\n```python\ndef greet(ctx):\n    return "
        '"Hi {name}, you owe ${amount}".format(**ctx)\n\nprint(greet({"name": "Ana"}))\n```\n'
        "Also make amount default to 0.",
        "code_generation",
        0.88,
    ),
    (
        "data_analysis",
        "Monthly sign-ups:\n| month | free | paid |\n|---|---|---|\n| Jan | 410 | 52 |\n"
        "| Feb | 455 | 61 |\n| Mar | 390 | 70 |\nWhat is the paid conversion rate each month, "
        "and is it improving?",
        "data_analysis",
        0.83,
    ),
    (
        "reasoning",
        "A snail climbs 3 m up a 10 m well each day and slips 2 m each night. On which day does "
        "it get out? Then explain what changes if the well is 20 m deep.",
        "reasoning",
        0.95,
    ),
    (
        "summarization",
        "Summarise these notes: the vendor missed two deadlines; legal wants a new clause on "
        "data retention; finance approved the Q3 budget of 120k; next review is on 14 May.",
        "summarization",
        0.9,
    ),
    (
        "translation",
        "Translate into German: {{ greeting }}, the train leaves at 9.",
        "translation",
        0.99,
    ),
    ("conversation", "Hey, thanks for yesterday! How are you doing?", "conversation", 0.93),
    (
        "task_planning",
        "Plan my first month learning Spanish: I have 30 minutes on weekdays, must be ready for "
        "a trip on 1 June, and want a checkpoint every week.",
        "task_planning",
        0.87,
    ),
    (
        "problem_solving",
        "Our team's weekly meeting always runs 30 minutes over, people stop listening, and two "
        "seniors dominate it. I tried a written agenda but it was ignored. What can I change, and "
        "how do I raise it with the seniors without offending them? We cannot cancel the meeting "
        "and must keep it under an hour.",
        "problem_solving",
        0.78,
    ),
    (
        "low_confidence",
        "Can you do the thing with {% the list %} like before?",
        "conversation",
        0.31,
    ),
]


def snapshot(case: str, text: str, result: EnhancedPrompt) -> str:
    techniques = ", ".join(str(t) for t in result.techniques)
    return (
        f"case: {case}\nintent: {result.intent}\nconfidence: {result.confidence}\n"
        f"complexity: {result.complexity}\ntechniques: {techniques}\n---\n{result.text}\n"
    )


@pytest.mark.parametrize(("case", "text", "intent", "confidence"), CASES, ids=[c[0] for c in CASES])
def test_golden(
    library: TechniqueLibrary, case: str, text: str, intent: str, confidence: float
) -> None:
    actual = snapshot(case, text, library.enhance(text, intent, confidence))
    path = GOLDEN / f"{case}.txt"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
        pytest.skip(f"regenerated {path.name}; review the diff before committing")
    assert path.is_file(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{path.name}",
                tofile="enhance() now",
            )
        )
        pytest.fail(f"enhanced prompt changed; if intended, rerun with UPDATE_GOLDEN=1\n{diff}")


def test_every_intent_has_a_snapshot(library: TechniqueLibrary) -> None:
    assert {intent for _, _, intent, confidence in CASES if confidence >= 0.5} == set(
        library.intents
    )
    assert {path.stem for path in GOLDEN.glob("*.txt")} == {case for case, *_ in CASES}
