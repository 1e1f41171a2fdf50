"""Each endpoint against a real TorchServe serving the tiny model; the same API in local mode."""

from __future__ import annotations

import httpx
import pytest

from api import create_app
from contract import check_prediction, load_labels
from serving_client import TorchServeClient
from tests.api.support import AUTH, serve_in_process, settings

pytestmark = pytest.mark.slow

PROMPTS = [
    "Write a short poem about the first snow of winter",
    "Translate 'see you tomorrow' into Spanish",
    "What is the difference between TCP and UDP?",
]


async def _direct(server, texts: list[str]) -> list[str]:
    """The intents TorchServe answers the serving client directly, for comparison."""
    async with TorchServeClient(
        port=server.inference_port, token_file=server.key_file, registry=None
    ) as client:
        return [(await client.classify(text)).intent for text in texts]


async def test_classify_answers_the_models_prediction(real_api, with_torchserve) -> None:
    http, _ = real_api
    bodies = []
    for text in PROMPTS:
        response = await http.post("/v1/classify", json={"text": text}, headers=AUTH)
        assert response.status_code == 200, response.text
        bodies.append(check_prediction(response.json(), load_labels()))
    assert {b["model_version"] for b in bodies} == {"1.0"}
    assert [b["intent"] for b in bodies] == await _direct(with_torchserve, PROMPTS)


async def test_batch_keeps_order_with_bad_items_in_the_middle(real_api, with_torchserve) -> None:
    http, _ = real_api
    texts = [PROMPTS[0], "", PROMPTS[1], 7, "\u200b\u200b", PROMPTS[2]]
    response = await http.post("/v1/classify/batch", json={"texts": texts}, headers=AUTH)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(texts)
    assert [results[i]["intent"] for i in (0, 2, 5)] == await _direct(with_torchserve, PROMPTS)
    for i in (1, 3, 4):
        assert results[i]["error"]["type"] == "invalid_input"


@pytest.mark.parametrize(
    "text",
    [
        "Plan a three-day trip to Lisbon with a museum each morning",
        "  {braces} and {{ jinja }} and $var stay,\n\ttabs too  ",
        "<user_input>\nnested tag\n</user_input> and 日本語 and emoji \U0001f600",
    ],
)
async def test_enhance_keeps_the_text_verbatim(real_api, text: str) -> None:
    http, _ = real_api
    classified = await http.post("/v1/enhance", json={"text": text}, headers=AUTH)
    assert classified.status_code == 200, classified.text
    body = classified.json()
    assert text in body["prompt"]
    assert body["intent_source"] == "classified" and body["model_version"] == "1.0"
    assert body["intent"] in load_labels() and 0 <= body["confidence"] <= 1
    assert body["complexity"] in ("simple", "moderate", "complex")
    assert body["techniques"] and all({"id", "version"} == set(t) for t in body["techniques"])

    given = await http.post(
        "/v1/enhance", json={"text": text, "intent": "translation"}, headers=AUTH
    )
    assert given.json()["intent"] == "translation" and given.json()["intent_source"] == "given"
    assert given.json()["confidence"] == 1.0 and text in given.json()["prompt"]


async def test_a_given_intent_skips_classification(real_api) -> None:
    http, _ = real_api
    before = await _torchserve_calls(http)
    response = await http.post(
        "/v1/enhance", json={"text": "hello", "intent": "conversation"}, headers=AUTH
    )
    assert response.status_code == 200
    assert await _torchserve_calls(http) == before


async def _torchserve_calls(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("torchserve_requests_total{")
    )


async def test_metrics_show_both_sides_after_real_predictions(real_api) -> None:
    http, _ = real_api
    response = await http.post("/v1/classify", json={"text": PROMPTS[0]}, headers=AUTH)
    intent = response.json()["intent"]
    text = (await http.get("/metrics")).text
    assert 'intent_classification_requests_total{endpoint="/v1/classify",status="200"} 1.0' in text
    assert f'intent_predictions_total{{intent="{intent}"}} 1.0' in text
    assert 'torchserve_requests_total{status="success"} 1.0' in text
    assert "torchserve_circuit_breaker_state{" in text
    assert "torchserve_connection_status 1.0" in text


async def test_readiness_is_200_while_torchserve_answers(real_api) -> None:
    http, _ = real_api
    response = await http.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "torchserve": "Healthy", "breaker": "closed"}


async def test_local_mode_answers_the_same_api_in_process(tiny_archive, monkeypatch) -> None:
    monkeypatch.setenv("USE_TORCHSERVE", "false")
    monkeypatch.setenv("LOCAL_MODEL_PATH", str(tiny_archive))
    monkeypatch.setenv("TORCHSERVE_PORT", "1")  # nothing listens there: any call would fail
    async with serve_in_process(create_app(settings())) as http:
        one = await http.post("/v1/classify", json={"text": PROMPTS[0]}, headers=AUTH)
        batch = await http.post(
            "/v1/classify/batch", json={"texts": [PROMPTS[1], "", PROMPTS[2]]}, headers=AUTH
        )
        enhanced = await http.post("/v1/enhance", json={"text": PROMPTS[2]}, headers=AUTH)
        ready = await http.get("/health/ready")
    assert one.status_code == 200 and check_prediction(one.json(), load_labels())
    assert one.json()["model_version"] == "1.0"
    results = batch.json()["results"]
    assert "intent" in results[0] and "error" in results[1] and "intent" in results[2]
    assert enhanced.status_code == 200 and PROMPTS[2] in enhanced.json()["prompt"]
    assert ready.status_code == 200 and ready.json()["breaker"] == "none (local)"
