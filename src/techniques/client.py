"""Enhancing through a classifier: anything with an async ``classify(text)`` will do, such as
``serving_client.TorchServeClient``. This module does not import the serving client."""

from __future__ import annotations

from typing import Protocol

from contract import check_text
from techniques.library import EnhancedPrompt, TechniqueLibrary, default_library


class Classification(Protocol):
    """What a classifier answers: the intent label and the model's confidence in it."""

    @property
    def intent(self) -> str: ...

    @property
    def confidence(self) -> float: ...


class IntentClassifier(Protocol):
    async def classify(self, text: str) -> Classification: ...


async def enhance_with_client(
    text: str, client: IntentClassifier, *, library: TechniqueLibrary | None = None
) -> EnhancedPrompt:
    """Classify ``text`` with ``client``, then enhance it for the intent and confidence returned
    (and the classifier's ``low_confidence`` flag, when its answer carries one).

    ``async with TorchServeClient.from_env() as client: p = await enhance_with_client(t, client)``.
    A blank or non-string ``text`` is rejected before any request is made; errors of the client
    propagate unchanged.
    """
    check_text(text)
    library = library if library is not None else default_library()
    prediction = await client.classify(text)
    # The classifier's low-confidence flag, when it sends one, decides the generic plan.
    low_confidence = getattr(prediction, "low_confidence", None)
    return library.enhance(
        text, prediction.intent, prediction.confidence, low_confidence=low_confidence
    )
