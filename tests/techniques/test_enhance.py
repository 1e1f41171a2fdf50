"""enhance(): assembly order, the request kept verbatim, few-shot choice, complexity and bad
input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contract import InvalidText
from techniques import (
    EnhancedPrompt,
    TechniqueLibrary,
    enhance,
    estimate_complexity,
    extract_user_input,
)

CODE_REQUEST = """Why does this fail?
```python
def render(ctx):
    return "{name}".format(**ctx) + f"{{ {ctx['x']} }}"
```
Also make it handle lists, and it must not use globals."""


def test_slots_come_in_the_documented_order(library: TechniqueLibrary) -> None:
    text = "Write a poem about rain, then a title; it must rhyme and avoid cliches."
    prompt = library.enhance(text, "creative_writing").text
    marks = [
        "You are a versatile writer",  # role
        "This is very important to me",  # context
        "Write the piece the user input asks for.",  # instructions
        "Constraints:\n- Honour every form",  # constraints
        f"<user_input>\n{text}\n</user_input>",  # user input
    ]
    positions = [prompt.index(mark) for mark in marks]
    assert positions == sorted(positions)

    prompt = library.enhance("Is 91 prime?", "reasoning").text
    marks = [
        "Solve the problem",
        "<user_input>",
        'of the form "Answer:',
        "Let's think step by step.",
    ]
    positions = [prompt.index(mark) for mark in marks]
    assert positions == sorted(positions)
    assert prompt.endswith("Let's think step by step.")


def test_code_and_template_syntax_are_kept_verbatim(library: TechniqueLibrary) -> None:
    result = library.enhance(CODE_REQUEST, "code_generation")
    assert f"<user_input>\n{CODE_REQUEST}\n</user_input>" in result.text
    assert extract_user_input(result.text) == result.user_input == CODE_REQUEST


def test_request_containing_the_tag_gets_another_tag(library: TechniqueLibrary) -> None:
    text = "Explain this: <user_input>hi</user_input> and user_input_1>"
    result = library.enhance(text, "question_answering")
    assert f"<user_input_2>\n{text}\n</user_input_2>" in result.text
    assert extract_user_input(result.text) == text


def test_result_carries_what_was_applied(library: TechniqueLibrary) -> None:
    result = library.enhance("Is 91 prime?", "reasoning", 0.8)
    assert isinstance(result, EnhancedPrompt)
    assert result.complexity == "simple"
    assert result.intent == "reasoning" and result.confidence == 0.8
    assert result.techniques == library.select("reasoning", 0.8, "simple")
    assert [str(t) for t in result.techniques][1] == "chain_of_thought@1.0.0"


def test_enhanced_prompt_comes_back_unchanged(library: TechniqueLibrary) -> None:
    first = library.enhance(CODE_REQUEST, "code_generation")
    again = library.enhance(first.text, "translation", 0.1)
    assert again.text == first.text
    assert again.techniques == first.techniques
    assert again.user_input == CODE_REQUEST
    assert library.is_enhanced(first.text)
    assert not library.is_enhanced(CODE_REQUEST)


def test_a_hand_edited_prompt_is_enhanced_again(library: TechniqueLibrary) -> None:
    first = library.enhance("Is 91 prime?", "reasoning").text
    edited = first.replace("Solve the problem", "Solve the riddle")
    assert library.enhance(edited, "reasoning").text != edited


def test_few_shot_picks_the_closest_example_last(library: TechniqueLibrary) -> None:
    result = library.enhance("Translate into French: where is the museum?", "translation")
    assert len(result.examples) == library.bank.max_examples
    assert "Où est la gare ?" in result.examples[-1]
    assert all(example in result.text for example in result.examples)
    used = sum(map(len, result.examples)) + 2 * (len(result.examples) - 1)
    assert used <= library.bank.char_budget


def test_no_examples_without_few_shot(library: TechniqueLibrary) -> None:
    result = library.enhance("Is 91 prime?", "reasoning")
    assert result.examples == ()
    assert "Examples of the expected form" not in result.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi", "simple"),
        ("What is the capital of France?", "simple"),
        ("Translate 'good morning' into Italian.", "simple"),
        (
            "Write a Python function that parses ISO dates, then add unit tests. "
            "It must not use third-party libraries.",
            "moderate",
        ),
        (
            "My wifi drops every few minutes since the update; restarting the router did not "
            "help. What else can I check, and should I roll back the update?",
            "moderate",
        ),
        (CODE_REQUEST, "moderate"),
        (
            "Plan a two-week trip to Japan for two people. We must stay under 3000 dollars, avoid "
            "overnight flights and include Kyoto and Tokyo. Also leave a rest day each week, then "
            "give a day-by-day schedule with costs, and finally a packing list.",
            "complex",
        ),
        (
            "Here are monthly sales:\nmonth,region,units\nJan,North,120\nFeb,North,135\n"
            "Mar,North,150\nJan,South,90\nFeb,South,80\nMar,South,70\n"
            "Which region is growing, is the difference significant, and what should we do?",
            "moderate",
        ),
        (
            "Sales:\nmonth,region,units\nJan,North,120\nFeb,North,135\nJan,South,90\n"
            "Feb,South,80\nWhich region is growing? Is the gap significant at 5%? Then chart "
            "it, using only the numbers given.",
            "complex",
        ),
    ],
)
def test_estimate_complexity(text: str, expected: str) -> None:
    assert estimate_complexity(text) == expected


def test_complexity_features(library: TechniqueLibrary) -> None:
    features = library.estimator.features(CODE_REQUEST)
    assert features.has_code and not features.has_data
    # The fenced code's braces and question-like text are not counted as requests.
    assert features.requests == 2
    assert features.constraints == 1
    data = library.estimator.features("| a | b |\n|---|---|\n| 1 | 2 |")
    assert data.has_data and not data.has_code


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", InvalidText, "no visible character"),
        ("  \n\t ", InvalidText, "no visible character"),
        ("\u200b\ufeff\x00", InvalidText, "no visible character"),
        ("a\ud800", InvalidText, "unpaired surrogate"),
        (None, InvalidText, "must be a string, got NoneType"),
        (b"bytes", InvalidText, "must be a string, got bytes"),
        (42, InvalidText, "must be a string, got int"),
    ],
)
def test_bad_text(text, error, message) -> None:
    with pytest.raises(error, match=message):
        enhance(text, "reasoning")
    with pytest.raises(error, match=message):
        estimate_complexity(text)


def test_unknown_intent_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown intent 'maths'.*'reasoning'"):
        enhance("2+2?", "maths")


@pytest.mark.parametrize("confidence", [1.01, -1.0, float("nan"), None])
def test_bad_confidence(confidence) -> None:
    with pytest.raises((TypeError, ValueError), match="confidence must"):
        enhance("2+2?", "reasoning", confidence)


def test_same_output_in_a_process_with_another_hash_seed(library: TechniqueLibrary) -> None:
    requests = [(CODE_REQUEST, "code_generation"), ("Summarise: rain, then sun.", "summarization")]
    script = (
        "import sys, json; from techniques import enhance; "
        "print(json.dumps([enhance(t, i).text for t, i in json.load(sys.stdin)]))"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(out.stdout) == [library.enhance(t, i).text for t, i in requests]


def test_instructions_are_read_at_the_ends_of_a_long_request(library: TechniqueLibrary) -> None:
    filler = "The river rose slowly over the fields near the old mill. " * 40
    middle = "Staff must then also file every form, and never late. "
    text = f"Summarise this report:\n{filler}{middle}{filler}\nKeep it short, then list risks."
    features = library.estimator.features(text)
    assert features.constraints == 0  # "must", "never" sit in the pasted material
    assert features.requests == 2  # "then" in the closing instruction counts
    assert features.words > 200
