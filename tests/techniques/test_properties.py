"""Properties of enhance() over generated requests: the request is kept verbatim (template-like
characters included), the result is deterministic and idempotent, and examples stay in budget."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contract import is_blank
from techniques import TechniqueLibrary, default_library, extract_user_input

# Pieces that a template engine or a naive delimiter would misread.
TRICKY = [
    "{x}",
    "{{ y }}",
    "{% z %}",
    "$var",
    "${var}",
    "$$",
    "$",
    "%s",
    "{0}",
    "\\n",
    "<user_input>",
    "</user_input>",
    "user_input_1>",
    "```",
    "\n",
    "\r\n",
    "\t",
    "    indented()",
    " ",
]

requests = (
    st.lists(st.one_of(st.text(max_size=30), st.sampled_from(TRICKY)), min_size=1, max_size=12)
    .map("".join)
    .filter(lambda text: not is_blank(text))
)
intents = st.sampled_from(default_library().intents)
confidences = st.floats(min_value=0.0, max_value=1.0)
LIBRARY = default_library()
# Hypothesis runs many examples; the first may be slow on a busy machine, none is a timing test.
PROPERTY = settings(deadline=None, max_examples=150)


@PROPERTY
@given(text=requests, intent=intents, confidence=confidences)
def test_request_is_kept_verbatim(text: str, intent: str, confidence: float) -> None:
    result = LIBRARY.enhance(text, intent, confidence)
    assert result.user_input == text
    assert extract_user_input(result.text) == text


@PROPERTY
@given(text=requests, intent=intents, confidence=confidences)
def test_deterministic(text: str, intent: str, confidence: float) -> None:
    assert LIBRARY.enhance(text, intent, confidence) == LIBRARY.enhance(text, intent, confidence)


def test_a_fresh_load_gives_the_same_prompts(library: TechniqueLibrary) -> None:
    fresh = TechniqueLibrary.load()
    for intent in library.intents:
        text = "Plan it: {x}, then $y; must fit 2 days.\n    indented"
        assert fresh.enhance(text, intent) == library.enhance(text, intent)


@PROPERTY
@given(
    text=requests,
    intent=intents,
    confidence=confidences,
    again_intent=intents,
    again_confidence=confidences,
)
def test_idempotent(
    text: str, intent: str, confidence: float, again_intent: str, again_confidence: float
) -> None:
    first = LIBRARY.enhance(text, intent, confidence)
    again = LIBRARY.enhance(first.text, again_intent, again_confidence)
    assert again.text == first.text
    assert again.techniques == first.techniques
    assert again.user_input == text


@PROPERTY
@given(text=requests, intent=intents, confidence=confidences)
def test_selection_and_examples_within_budget(text: str, intent: str, confidence: float) -> None:
    result = LIBRARY.enhance(text, intent, confidence)
    assert result.techniques == LIBRARY.select(intent, confidence, result.complexity)
    assert len(result.techniques) <= LIBRARY.rules.max_techniques
    bank = LIBRARY.bank
    assert len(result.examples) <= bank.max_examples
    assert sum(map(len, result.examples)) + 2 * max(len(result.examples) - 1, 0) <= bank.char_budget
    assert all(example in result.text for example in result.examples)
    if any(t.id == "few_shot" for t in result.techniques):
        assert result.examples  # every example fits the budget alone, so one always fits
