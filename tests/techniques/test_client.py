"""enhance_with_client with the real serving client: in local mode on the tiny model, and against
a real TorchServe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from techniques import TechniqueLibrary, enhance_with_client

TEXT = "Explain {{ this }} and $that:\n    indented line"


async def test_local_client_classifies_then_enhances(
    tiny_model_dir: Path, library: TechniqueLibrary
) -> None:
    from serving_client import TorchServeClient

    async with TorchServeClient(use_torchserve=False, local_model_path=tiny_model_dir) as client:
        prediction = await client.classify(TEXT)
        result = await enhance_with_client(TEXT, client, library=library)
    assert result.intent == prediction.intent
    assert result.confidence == prediction.confidence
    expected = library.enhance(
        TEXT, prediction.intent, prediction.confidence, low_confidence=prediction.low_confidence
    )
    assert result == expected
    assert result.user_input == TEXT


async def test_a_low_confidence_prediction_gets_the_generic_plan(library: TechniqueLibrary) -> None:
    @dataclass
    class Answer:
        intent: str
        confidence: float
        low_confidence: bool

    class Classifier:
        def __init__(self, answer: Answer) -> None:
            self.answer = answer

        async def classify(self, text: str) -> Answer:
            return self.answer

    # Confidence well above the rules' own threshold: only the model's flag can pick the plan.
    flagged = await enhance_with_client(
        TEXT, Classifier(Answer("data_analysis", 0.9, True)), library=library
    )
    trusted = await enhance_with_client(
        TEXT, Classifier(Answer("data_analysis", 0.9, False)), library=library
    )
    generic = library.enhance(TEXT, "data_analysis", 0.0)  # under the rules' threshold
    assert flagged.techniques == generic.techniques
    assert trusted.techniques == library.enhance(TEXT, "data_analysis", 0.9).techniques
    assert flagged.techniques != trusted.techniques


async def test_blank_text_is_refused_before_any_request() -> None:
    from serving_client import TorchServeClient

    # Nothing listens on port 9; a request would fail with a connection error, not this one.
    async with TorchServeClient(port=9, max_retries=0, timeout=5) as client:
        with pytest.raises(ValueError, match="no visible character"):
            await enhance_with_client("  \n", client)
        with pytest.raises(ValueError, match="must be a string"):
            await enhance_with_client(None, client)  # type: ignore[arg-type]


@pytest.mark.slow
async def test_remote_client_classifies_then_enhances(
    torchserve, library: TechniqueLibrary
) -> None:
    from serving_client import TorchServeClient

    async with TorchServeClient(
        port=torchserve.inference_port,
        management_port=torchserve.management_port,
        token_file=torchserve.key_file,
    ) as client:
        prediction = await client.classify(TEXT)
        result = await enhance_with_client(TEXT, client, library=library)
    assert result.intent == prediction.intent in library.intents
    assert result.text == library.enhance(TEXT, prediction.intent, prediction.confidence).text
