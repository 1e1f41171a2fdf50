"""Against a real TorchServe on loopback: answers, schema, versions, tokens, bad input, batching."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from contract import load_labels
from handlers.intent_handler import BATCH_SIZE_HEADER
from handlers.prediction import IntentPredictor

pytestmark = pytest.mark.slow

PROMPTS = [
    "Write a limerick about a cat who loves jazz",
    "Translate 'where is the station' into German",
    "My SQL query returns duplicates, how do I fix it?",
    "What causes the seasons on Earth?",
    "Plan a three-day trip to Kyoto",
    "Summarize the article above in two sentences",
    "If a train leaves at 3pm going 60 km/h, when does it cover 150 km?",
    "thanks, you have been really helpful today",
]


def predict_url(server, model: str = "intent_classifier", version: str | None = None) -> str:
    path = f"{server.inference_url}/predictions/{model}"
    return f"{path}/{version}" if version else path


def post(server, body: bytes | dict, content_type: str = "application/json", **kwargs):
    headers = {**server.auth_headers(), "Content-Type": content_type}
    if isinstance(body, dict):
        return httpx.post(predict_url(server, **kwargs), json=body, headers=headers)
    return httpx.post(predict_url(server, **kwargs), content=body, headers=headers)


@pytest.fixture(scope="module")
def tiny_reference(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> IntentPredictor:
    """The served archive loaded in-process: what the server's answers must equal."""
    return IntentPredictor.from_archive(tiny_archive, cache_dir=tmp_path_factory.mktemp("cache"))


def assert_same_prediction(served: dict, expected: dict) -> None:
    assert served["intent"] == expected["intent"]
    assert served["confidence"] == pytest.approx(expected["confidence"], abs=1e-5)
    assert [e["intent"] for e in served["top_k"]] == [e["intent"] for e in expected["top_k"]]


def test_one_request_gets_the_documented_json(torchserve, tiny_reference) -> None:
    response = post(torchserve, {"text": PROMPTS[0]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {
        "intent",
        "confidence",
        "top_k",
        "model_version",
        "truncated",
        "low_confidence",
    }
    assert body["intent"] in load_labels()
    assert body["model_version"] == "1.0"
    assert body["truncated"] is False
    assert [set(entry) for entry in body["top_k"]] == [{"intent", "score"}] * tiny_reference.top_k
    assert_same_prediction(body, tiny_reference.predict([PROMPTS[0]])[0])


def test_plain_text_body_is_classified_like_json(torchserve) -> None:
    as_json = post(torchserve, {"text": PROMPTS[1]}).json()
    as_text = post(torchserve, PROMPTS[1].encode(), content_type="text/plain").json()
    assert_same_prediction(as_text, as_json)


def test_long_prompt_is_answered_and_flagged_truncated(torchserve) -> None:
    body = post(torchserve, {"text": "please summarise this report " * 100}).json()
    assert body["truncated"] is True


def test_versioned_endpoint_answers_its_version(torchserve) -> None:
    response = post(torchserve, {"text": PROMPTS[2]}, version="1.0")
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "1.0"
    missing = post(torchserve, {"text": PROMPTS[2]}, version="9.9")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-the-key"}], ids=["no-token", "wrong-token"]
)
def test_request_without_the_inference_token_is_refused(torchserve, headers: dict) -> None:
    response = httpx.post(predict_url(torchserve), json={"text": PROMPTS[0]}, headers=headers)
    # TorchServe 0.12 answers a failed token check with 400 InvalidKeyException.
    assert response.status_code in (400, 401)
    assert response.json()["type"] == "InvalidKeyException"
    assert "intent" not in response.text


def test_management_api_needs_its_own_token(torchserve) -> None:
    url = f"{torchserve.management_url}/models"
    assert httpx.get(url, headers=torchserve.auth_headers("inference")).status_code != 200
    listed = httpx.get(url, headers=torchserve.auth_headers("management"))
    assert listed.status_code == 200
    assert [m["modelName"] for m in listed.json()["models"]] == ["intent_classifier"]


def test_model_registration_api_is_off(torchserve) -> None:
    response = httpx.post(
        f"{torchserve.management_url}/models",
        params={"url": "other.mar"},
        headers=torchserve.auth_headers("management"),
    )
    assert response.status_code == 405


def test_server_is_bound_to_loopback_and_the_key_file_is_private(torchserve) -> None:
    assert torchserve.host == "127.0.0.1"
    config = (torchserve.workdir / "config.properties").read_text()
    for key in ("inference_address", "management_address", "metrics_address"):
        assert f"{key}=http://127.0.0.1:" in config
    assert torchserve.key_file.stat().st_mode & 0o077 == 0


BAD_INPUTS = {
    "blank-text": (b'{"text": "   "}', "application/json", 400, "no visible character"),
    "not-utf8": (b"\xff\xfe\xfa", "application/octet-stream", 400, "not valid UTF-8"),
    "text-not-string": (b'{"text": 17}', "application/json", 400, "must be a string"),
    "json-without-text": (b'{"prompt": "hi"}', "application/json", 400, 'no "text" field'),
    "broken-json": (b'{"text": "hi', "application/json", 400, "not valid JSON"),
    "over-byte-limit": (b"a" * 40_000, "text/plain", 413, "limit is"),
}


@pytest.mark.parametrize(("body", "content_type", "status", "fix"), BAD_INPUTS.values(),
                         ids=BAD_INPUTS.keys())  # fmt: skip
def test_bad_input_gets_its_error_and_the_server_stays_up(
    torchserve, body: bytes, content_type: str, status: int, fix: str
) -> None:
    response = post(torchserve, body, content_type=content_type)
    assert response.status_code == status
    error = response.json()
    assert error["type"] == "InvalidRequest"
    assert fix in error["message"]
    after = post(torchserve, {"text": PROMPTS[3]})
    assert after.status_code == 200
    assert after.json()["intent"] in load_labels()


def test_body_over_the_frontend_limit_is_refused(torchserve) -> None:
    response = post(torchserve, b"a" * 70_000, content_type="text/plain")
    assert response.status_code == 413
    assert post(torchserve, {"text": PROMPTS[3]}).status_code == 200


@pytest.fixture(scope="module")
def minilm_reference(minilm_archive: Path, tmp_path_factory) -> IntentPredictor:
    return IntentPredictor.from_archive(minilm_archive, cache_dir=tmp_path_factory.mktemp("cache"))


async def send_concurrently(server, bodies: list[dict | bytes]) -> list[httpx.Response]:
    """POST every body at once, each on its own connection, to the server's model."""
    model = server.model_name
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:

        async def send(body):
            headers = server.auth_headers()
            if isinstance(body, dict):
                return await client.post(predict_url(server, model), json=body, headers=headers)
            headers["Content-Type"] = "application/octet-stream"
            return await client.post(predict_url(server, model), content=body, headers=headers)

        return await asyncio.gather(*(send(body) for body in bodies))


async def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    batching_server, minilm_reference
) -> None:
    prompts = [f"{PROMPTS[i % len(PROMPTS)]} (request {i})" for i in range(32)]
    responses = await send_concurrently(batching_server, [{"text": p} for p in prompts])
    assert [r.status_code for r in responses] == [200] * len(prompts)
    batch_sizes = [int(r.headers[BATCH_SIZE_HEADER]) for r in responses]
    assert max(batch_sizes) > 1, batch_sizes
    for response, expected in zip(responses, minilm_reference.predict(prompts), strict=True):
        assert_same_prediction(response.json(), expected)


async def test_bad_request_in_a_batch_leaves_its_neighbours_right(
    batching_server, minilm_reference
) -> None:
    bodies = [{"text": PROMPTS[0]}, b"\xff\xfe", {"text": ""}, {"text": PROMPTS[4]}, {"text": 3}]
    responses = await send_concurrently(batching_server, bodies)
    assert [r.status_code for r in responses] == [200, 400, 400, 200, 400]
    # All five shared one forward pass, so the errors sat in the same batch as the answers.
    assert {r.headers[BATCH_SIZE_HEADER] for r in responses} == {"5"}
    expected = minilm_reference.predict([PROMPTS[0], PROMPTS[4]])
    assert_same_prediction(responses[0].json(), expected[0])
    assert_same_prediction(responses[3].json(), expected[1])
    assert all(r.json()["type"] == "InvalidRequest" for r in (responses[1], responses[2]))
