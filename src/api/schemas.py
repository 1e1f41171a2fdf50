"""The API's request and response bodies. A prediction mirrors ``contract.PredictionBody``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from api.settings import MAX_BATCH_TEXTS
from contract import InvalidText, check_text, load_labels
from serving_client import IntentPrediction
from techniques import EnhancedPrompt


def _checked_text(value: Any) -> str:
    """The contract's input rule, with its message as the 422's."""
    try:
        return check_text(value)
    except InvalidText as err:
        raise PydanticCustomError("invalid_text", str(err)) from None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassifyRequest(_Request):
    text: str = Field(description="The prompt to classify.", examples=["Write a haiku about rain"])

    _check_text = field_validator("text", mode="before")(_checked_text)


class BatchRequest(_Request):
    # Items are checked one by one in the route, so a bad one gets its own error entry instead
    # of failing the whole request.
    texts: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_BATCH_TEXTS,
            description=f"1 to {MAX_BATCH_TEXTS} prompts; answered in the same order.",
            json_schema_extra={"items": {"type": "string"}},
        ),
    ]


class EnhanceRequest(_Request):
    text: str = Field(description="The prompt to enhance; kept verbatim in the result.")
    intent: str | None = Field(
        None, description="An intent label; when given, the prompt is not classified."
    )

    _check_text = field_validator("text", mode="before")(_checked_text)

    @field_validator("intent")
    @classmethod
    def _known_intent(cls, value: str | None) -> str | None:
        if value is not None and value not in load_labels():
            labels = ", ".join(load_labels())
            raise PydanticCustomError(
                "unknown_intent", f"unknown intent {value!r}; expected one of: {labels}"
            )
        return value


class Score(BaseModel):
    intent: str
    score: float


class Prediction(BaseModel):
    """The classifier's answer, as ``contract.PredictionBody``."""

    intent: str
    confidence: float
    top_k: list[Score]
    model_version: str
    truncated: bool
    low_confidence: bool = Field(
        False, description="The calibrated confidence is under the model's threshold: a guess."
    )

    @classmethod
    def of(cls, prediction: IntentPrediction) -> Prediction:
        return cls(
            intent=prediction.intent,
            confidence=prediction.confidence,
            top_k=[Score(intent=s.intent, score=s.score) for s in prediction.top_k],
            model_version=prediction.model_version,
            truncated=prediction.truncated,
            low_confidence=prediction.low_confidence,
        )


class ErrorDetail(BaseModel):
    type: str
    message: str


class ItemError(BaseModel):
    """A batch item that could not be classified."""

    error: ErrorDetail


class BatchResponse(BaseModel):
    results: list[Prediction | ItemError] = Field(description="One entry per text, in order.")


class Technique(BaseModel):
    id: str
    version: str


class EnhanceResponse(BaseModel):
    intent: str
    confidence: float = Field(description="The model's confidence; 1.0 for a given intent.")
    intent_source: Literal["classified", "given"]
    model_version: str | None = Field(None, description="The model that classified the text.")
    complexity: str
    techniques: list[Technique]
    prompt: str = Field(description="The enhanced prompt, with the text verbatim inside it.")

    @classmethod
    def of(
        cls,
        enhanced: EnhancedPrompt,
        *,
        source: Literal["classified", "given"],
        version: str | None,
    ) -> EnhanceResponse:
        return cls(
            intent=enhanced.intent,
            confidence=enhanced.confidence,
            intent_source=source,
            model_version=version,
            complexity=enhanced.complexity,
            techniques=[Technique(id=t.id, version=t.version) for t in enhanced.techniques],
            prompt=enhanced.text,
        )


class RequestError(ErrorDetail):
    request_id: str


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"type", "message", "request_id"}}``."""

    error: RequestError
