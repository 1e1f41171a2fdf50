"""The API's own behaviour, in this process on a scripted client: keys, limits, bodies, request ids,
the status each client error maps to, readiness, metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from api import create_app
from serving_client import (
    AuthenticationError,
    CircuitBreaker,
    CircuitOpenError,
    ConfigurationError,
    InvalidInputError,
    ModelNotFoundError,
    PoolTimeoutError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
from tests.api.support import AUTH, KEY, OTHER_KEY, prediction_for, serve_in_process, settings

ENDPOINTS = {
    "/v1/classify": {"text": "Write a haiku about rain"},
    "/v1/classify/batch": {"texts": ["Write a haiku about rain", "hello there"]},
    "/v1/enhance": {"text": "Plan a three-day trip to Lisbon"},
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": KEY},  # no scheme
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer wrong-key-0123456789abcdef"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "no-scheme", "basic", "wrong", "longer", "empty"],
)
async def test_v1_endpoints_refuse_a_missing_or_wrong_key(stub_api, path, headers) -> None:
    http, app = stub_api
    response = await http.post(path, json=ENDPOINTS[path], headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["type"] == "unauthorized"
    assert app.state.client.calls == []  # refused before anything was classified


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
async def test_every_configured_key_is_let_in(stub_api, path: str, key: str) -> None:
    http, _ = stub_api
    response = await http.post(
        path, json=ENDPOINTS[path], headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "path", ["/health/live", "/health/ready", "/metrics", "/docs", "/openapi.json"]
)
async def test_health_metrics_and_docs_need_no_key(stub_api, path: str) -> None:
    http, _ = stub_api
    assert (await http.get(path)).status_code == 200


async def test_openapi_documents_the_endpoints_their_key_and_errors(stub_api) -> None:
    http, _ = stub_api
    schema = (await http.get("/openapi.json")).json()
    for path in ENDPOINTS:
        operation = schema["paths"][path]["post"]
        assert operation["security"] == [{"HTTPBearer": []}], path
        assert {"401", "413", "422", "429", "502", "503"} <= set(operation["responses"]), path
    assert "security" not in schema["paths"]["/health/ready"]["get"]


async def test_classify_answers_the_contract_schema(stub_api) -> None:
    from contract import check_prediction, load_labels

    http, _ = stub_api
    response = await http.post("/v1/classify", json={"text": "hello"}, headers=AUTH)
    body = response.json()
    assert check_prediction(body, load_labels()) == body
    assert set(body) == {
        "intent",
        "confidence",
        "top_k",
        "model_version",
        "truncated",
        "low_confidence",
    }


CLIENT_ERRORS = [
    (InvalidInputError("text too long"), 422, "invalid_input", None),
    (CircuitOpenError("paused", retry_after=12.2), 503, "unavailable", "13"),
    (ServerBusyError("busy", status_code=503, retry_after=2.0), 503, "unavailable", "2"),
    (ServerBusyError("busy", status_code=503), 503, "unavailable", None),
    (TorchServeConnectionError("refused"), 503, "unavailable", None),
    (TorchServeTimeoutError("slow"), 503, "unavailable", None),
    (PoolTimeoutError("no connection free"), 503, "unavailable", None),
    (AuthenticationError("token refused", status_code=400), 503, "unavailable", None),
    (ModelNotFoundError("no such model", status_code=404), 503, "unavailable", None),
    (ConfigurationError("bad key file"), 503, "unavailable", None),
    (TorchServeInferenceError("model failed", status_code=500), 502, "model_error", None),
    (TorchServeError("client bug"), 500, "internal_error", None),
]


@pytest.mark.parametrize(
    ("error", "status", "kind", "retry_after"),
    CLIENT_ERRORS,
    ids=[f"{type(e[0]).__name__}-{e[3]}" for e in CLIENT_ERRORS],
)
@pytest.mark.parametrize("path", ["/v1/classify", "/v1/enhance"])
async def test_each_client_error_maps_to_its_status(
    stub_api, path, error, status, kind, retry_after
) -> None:
    http, app = stub_api
    app.state.client.error = error
    response = await http.post(path, json={"text": "hello"}, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    assert response.headers.get("Retry-After") == retry_after
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


async def test_operator_faults_are_logged_as_errors_and_not_told_to_the_caller(
    stub_api, caplog
) -> None:
    http, app = stub_api
    app.state.client.error = AuthenticationError("TorchServe refused the token", status_code=400)
    with caplog.at_level(logging.ERROR, logger="api"):
        response = await http.post("/v1/classify", json={"text": "hello"}, headers=AUTH)
    assert response.status_code == 503
    assert "token" not in response.json()["error"]["message"]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "AuthenticationError" in record.getMessage() and "key file" in record.getMessage()


async def test_an_unexpected_exception_is_a_json_500_with_the_request_id(stub_api, caplog) -> None:
    http, app = stub_api
    app.state.client.error = RuntimeError("boom at /internal/path")
    with caplog.at_level(logging.ERROR):
        response = await http.post(
            "/v1/classify", json={"text": "hello"}, headers={**AUTH, "X-Request-ID": "req-42"}
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == {
        "type": "internal_error",
        "message": "internal error; quote the request id if you report it",
        "request_id": "req-42",
    }
    assert "Traceback" not in response.text and "boom" not in response.text
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)  # logged once


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("abc-123_X.y:z", True),
        ("a" * 129, False),
        ("has space", False),
        ('quote"d', False),
        ("line\tbreak", False),
        ("", False),
    ],
)
async def test_a_sane_request_id_is_echoed_else_one_is_made(stub_api, offered, kept) -> None:
    http, _ = stub_api
    response = await http.get("/health/live", headers={"X-Request-ID": offered})
    echoed = response.headers["X-Request-ID"]
    assert (echoed == offered) is kept
    assert len(echoed) == 32 or kept  # uuid4().hex


async def test_a_body_over_64_kib_is_413_by_content_length(stub_api) -> None:
    http, app = stub_api
    body = json.dumps({"text": "x" * 70_000})
    response = await http.post(
        "/v1/classify", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert app.state.client.calls == []


async def test_a_chunked_body_over_64_kib_is_413_too(stub_api) -> None:
    http, app = stub_api

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = await http.post(
        "/v1/classify", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 413
    assert app.state.client.calls == []


async def test_a_body_just_under_the_limit_is_read(stub_api) -> None:
    http, _ = stub_api
    texts = ["y" * 1000] * 60  # about 60 KiB of JSON
    response = await http.post("/v1/classify/batch", json={"texts": texts}, headers=AUTH)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 60


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"text": 5}', '"text" must be a string, got int'),
        (b'{"text": "   \\u200b"}', '"text" has no visible character'),
        (b'{"text": "\\ud83d"}', "unpaired surrogate"),
        (b'{"txt": "hello"}', "text: Field required"),
        (b'{"text": "hi", "extra": 1}', "extra: Extra inputs are not permitted"),
        (b"[]", "body: Input should be a valid dictionary"),
        (b"", "body: Field required"),
    ],
)
async def test_bad_bodies_are_422_with_a_message(stub_api, body: bytes, message: str) -> None:
    http, app = stub_api
    response = await http.post(
        "/v1/classify", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and message in error["message"]
    assert app.state.client.calls == []


async def test_a_text_rule_message_is_the_contracts_own(stub_api) -> None:
    from contract import InvalidText, check_text

    http, _ = stub_api
    with pytest.raises(InvalidText) as rule:
        check_text("\u200b\ufeff")
    response = await http.post("/v1/enhance", json={"text": "\u200b\ufeff"}, headers=AUTH)
    assert response.json()["error"]["message"] == str(rule.value)


async def test_enhance_refuses_an_unknown_intent_and_lists_the_labels(stub_api) -> None:
    http, _ = stub_api
    response = await http.post(
        "/v1/enhance", json={"text": "hello", "intent": "poetry"}, headers=AUTH
    )
    assert response.status_code == 422
    assert "unknown intent 'poetry'" in response.json()["error"]["message"]
    assert "creative_writing" in response.json()["error"]["message"]


async def test_batch_keeps_order_and_gives_bad_items_their_own_error(stub_api) -> None:
    http, _ = stub_api
    texts = ["first prompt", "", "third prompt", 42, "  \u200b ", "sixth prompt"]
    response = await http.post("/v1/classify/batch", json={"texts": texts}, headers=AUTH)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        if isinstance(text, str) and text.strip(" \u200b"):
            assert result["intent"] == prediction_for(text).intent
        else:
            assert result["error"]["type"] == "invalid_input", result
            assert result["error"]["message"]


async def test_a_batch_nobody_could_answer_fails_as_one_503(stub_api) -> None:
    http, app = stub_api
    app.state.client.error = CircuitOpenError("paused", retry_after=3)
    response = await http.post("/v1/classify/batch", json={"texts": ["a", "", "b"]}, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"


@pytest.mark.parametrize("texts", [[], ["x"] * 257])
async def test_batch_size_is_1_to_256(stub_api, texts: list[str]) -> None:
    http, _ = stub_api
    response = await http.post("/v1/classify/batch", json={"texts": texts}, headers=AUTH)
    assert response.status_code == 422


async def test_rate_limit_is_per_key_with_retry_after(scripted) -> None:
    app = create_app(settings(rate_limit="2/minute"), client=scripted)
    async with serve_in_process(app) as http:
        for _ in range(2):
            ok = await http.post("/v1/classify", json={"text": "hi"}, headers=AUTH)
            assert ok.status_code == 200
        refused = await http.post("/v1/classify", json={"text": "hi"}, headers=AUTH)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"]["type"] == "rate_limited"
        # One budget per key for every /v1 endpoint; another key has its own; a request without
        # a valid key spends none.
        spent = await http.post("/v1/enhance", json={"text": "hi"}, headers=AUTH)
        assert spent.status_code == 429
        assert (await http.post("/v1/classify", json={"text": "hi"})).status_code == 401
        other = {"Authorization": f"Bearer {OTHER_KEY}"}
        answer = await http.post("/v1/enhance", json={"text": "hi"}, headers=other)
        assert answer.status_code == 200


async def test_readiness_follows_torchserve_and_the_breaker(stub_api) -> None:
    http, app = stub_api
    client = app.state.client
    ready = await http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"

    client.healthy = False
    unready = await http.get("/health/ready")
    assert unready.status_code == 503 and "Unreachable" in unready.json()["reason"]

    client.healthy = True
    now = [0.0]
    client.breaker = CircuitBreaker(
        "m", failure_threshold=1, recovery_timeout=30, half_open_probes=1, clock=lambda: now[0]
    )
    client.breaker.record_failure(client.breaker.allow())
    paused = await http.get("/health/ready")
    assert paused.status_code == 503 and paused.headers["Retry-After"] == "30"
    assert (await http.get("/health/live")).status_code == 200

    now[0] = 31.0  # half-open: traffic must reach it to close it, so the API is ready again
    assert (await http.get("/health/ready")).status_code == 200


async def test_auth_off_serves_without_a_key_and_warns(scripted, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="api"):
        app = create_app(settings(api_keys=[], auth="off"), client=scripted)
    assert any("INTENT_API_AUTH=off" in r.getMessage() for r in caplog.records)
    async with serve_in_process(app) as http:
        response = await http.post("/v1/classify", json={"text": "hello"})
    assert response.status_code == 200


async def test_metrics_count_requests_latency_intents_and_the_clients_own(stub_api) -> None:
    http, _ = stub_api
    await http.post("/v1/classify", json={"text": "hello"}, headers=AUTH)
    await http.post("/v1/classify", json={"text": ""}, headers=AUTH)
    await http.post("/v1/classify", json={"text": "hello"})
    text = (await http.get("/metrics")).text
    intent = prediction_for("hello").intent
    for line in (
        'intent_classification_requests_total{endpoint="/v1/classify",status="200"} 1.0',
        'intent_classification_requests_total{endpoint="/v1/classify",status="422"} 1.0',
        'intent_classification_requests_total{endpoint="/v1/classify",status="401"} 1.0',
        'intent_classification_duration_seconds_count{endpoint="/v1/classify"} 3.0',
        f'intent_predictions_total{{intent="{intent}"}} 1.0',
        'intent_predictions_total{intent="translation"} 0.0',
    ):
        assert line in text, line
    assert "torchserve_requests_total" in text  # the client's metrics share the registry


async def test_two_apps_keep_their_own_metrics(scripted) -> None:
    first, second = create_app(settings(), client=scripted), create_app(settings(), client=scripted)
    async with serve_in_process(first) as a, serve_in_process(second) as b:
        await a.post("/v1/classify", json={"text": "hello"}, headers=AUTH)
        assert 'status="200"} 1.0' in (await a.get("/metrics")).text
        assert 'status="200"}' not in (await b.get("/metrics")).text
