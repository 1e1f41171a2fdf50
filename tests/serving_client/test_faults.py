"""Each fault a server or network can throw at the client, produced by the stub ``FaultServer``."""

from __future__ import annotations

import asyncio
import json

import pytest

from serving_client import (
    AuthenticationError,
    BreakerState,
    IntentPrediction,
    InvalidInputError,
    ModelNotFoundError,
    ServerBusyError,
    TorchServeConnectionError,
    TorchServeInferenceError,
    TorchServeTimeoutError,
)
from tests.serving_client.fakes import (
    Hang,
    Raw,
    Reply,
    Reset,
    SlowBody,
    echo,
    error_body,
    prediction_for,
)


@pytest.fixture(params=["aiohttp", "httpx-aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every fault is checked on each transport the client can use."""
    return request.param


NO_WORKER = error_body(
    503,
    "ServiceUnavailableException",
    'Model "intent_classifier" has no worker to serve inference request. Please use scale '
    "workers API to add workers.",
)
PREDICTION_FAILED = error_body(503, "InternalServerException", "Prediction failed")
BAD_TOKEN = error_body(
    400,
    "InvalidKeyException",
    "Token Authorization failed. Token either incorrect, expired, or not provided correctly",
)


async def test_happy_path_returns_a_typed_prediction(client, fault_server, metric):
    prediction = await client.classify("plan my week")

    assert isinstance(prediction, IntentPrediction)
    assert prediction.to_dict() == {
        **prediction_for("plan my week"),
        "top_k": [{"intent": prediction.intent, "score": prediction.confidence}],
        "latency_ms": prediction.latency_ms,
        "attempts": 1,
    }
    assert prediction.attempts == 1
    assert prediction.latency_ms > 0
    assert json.loads(fault_server.requests[0].body) == {"text": "plan my week"}
    assert fault_server.requests[0].headers["content-type"] == "application/json"
    assert metric("torchserve_requests_total", status="success") == 1
    assert metric("torchserve_connection_status") == 1


async def test_refused_connection_is_retried_then_raised(
    make_client, refused_port, fake_clock, metric
):
    client = make_client(port=refused_port, max_retries=2)

    with pytest.raises(TorchServeConnectionError) as caught:
        await client.classify("hello")

    assert type(caught.value) is TorchServeConnectionError
    assert caught.value.attempts == 3
    assert "check that it is running" in str(caught.value)
    # Full jitter with the test's rng (0.5): half of 0.1 * 2**n.
    assert fake_clock.sleeps == pytest.approx([0.05, 0.1])
    assert metric("torchserve_retry_total", reason="connect") == 2
    assert metric("torchserve_requests_total", status="connection_error") == 1
    assert metric("torchserve_connection_status") == 0


async def test_a_hung_server_costs_no_more_than_the_deadline(make_client, fault_server):
    fault_server.script(Hang())
    client = make_client(timeout=0.3, max_retries=3)
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(TorchServeTimeoutError) as caught:
        await client.classify("hello")

    elapsed = loop.time() - started
    assert 0.3 <= elapsed < 1.3, elapsed
    # The only attempt used the whole deadline, so no retry was possible.
    assert caught.value.attempts == 1


async def test_attempt_timeout_lets_a_retry_succeed(make_client, fault_server, metric):
    fault_server.script(Hang())
    client = make_client(timeout=10, attempt_timeout=0.2)

    prediction = await client.classify("hello")

    assert prediction.attempts == 2
    assert fault_server.count() == 2
    assert metric("torchserve_retry_total", reason="timeout") == 1


async def test_a_slow_body_is_cut_off_at_the_deadline(make_client, fault_server):
    # Bytes keep arriving, so no single read times out; only the call's deadline stops it.
    fault_server.script(SlowBody(json.dumps(prediction_for("x")).encode(), interval=0.05))
    client = make_client(timeout=0.5, max_retries=0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(TorchServeTimeoutError):
        await client.classify("x")

    assert loop.time() - started < 1.5


async def test_reset_mid_response_is_retried(make_client, fault_server, metric):
    fault_server.script(Reset())
    client = make_client()

    prediction = await client.classify("hello")

    assert prediction.attempts == 2
    assert prediction.intent == prediction_for("hello")["intent"]
    assert metric("torchserve_retry_total", reason="network") == 1


async def test_resets_until_retries_run_out_raise_connection_error(make_client, fault_server):
    fault_server.script(Reset(), Reset())
    client = make_client(max_retries=1)

    with pytest.raises(TorchServeConnectionError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 2


@pytest.mark.parametrize(
    "answer",
    [
        Raw(b"GARBAGE garbage\r\n\r\n"),
        Raw(b'HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n{"intent"'),
    ],
    ids=["not-http", "truncated-body"],
)
async def test_a_broken_answer_is_a_connection_error_and_retried(
    make_client, fault_server, metric, answer
):
    fault_server.script(answer, answer)
    client = make_client(max_retries=1)

    with pytest.raises(TorchServeConnectionError) as caught:
        await client.classify("hello")

    assert type(caught.value) is TorchServeConnectionError
    assert caught.value.attempts == 2
    # The transport's error, which holds the request's headers, is not chained to it.
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)
    assert client.breaker.consecutive_failures == 2
    assert metric("torchserve_retry_total", reason="network") == 1


async def test_503_no_worker_is_retried(make_client, fault_server, metric):
    fault_server.script(Reply(503, NO_WORKER), Reply(503, NO_WORKER))
    client = make_client()

    prediction = await client.classify("hello")

    assert prediction.attempts == 3
    assert fault_server.count() == 3
    assert metric("torchserve_retry_total", reason="503") == 2
    assert [r.headers.get("x-retry-count") for r in fault_server.requests] == [None, "1", "2"]


async def test_503_no_worker_after_last_retry_is_server_busy(make_client, fault_server):
    fault_server.responders["predictions"] = lambda request: Reply(503, NO_WORKER)
    client = make_client(max_retries=2)

    with pytest.raises(ServerBusyError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 3
    assert caught.value.status_code == 503


async def test_503_prediction_failed_is_not_retried(client, fault_server):
    fault_server.script(Reply(503, PREDICTION_FAILED))

    with pytest.raises(TorchServeInferenceError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 1
    assert fault_server.count() == 1
    assert client.breaker.consecutive_failures == 0  # the input's fault, not the server's


async def test_500_model_failure_is_an_inference_error_the_breaker_ignores(client, fault_server):
    fault_server.script(Reply(500, error_body(500, "InternalServerException", "Worker died.")))

    with pytest.raises(TorchServeInferenceError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 1
    assert caught.value.status_code == 500
    assert "Worker died" not in str(caught.value)  # server internals stay in the log
    assert client.breaker.consecutive_failures == 0


async def test_500_from_something_other_than_torchserve_counts_against_the_breaker(
    client, fault_server
):
    fault_server.script(Reply(500, b"<html>Internal Server Error</html>"))

    with pytest.raises(TorchServeInferenceError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 1
    assert client.breaker.consecutive_failures == 1


@pytest.mark.parametrize(
    "poison",
    [
        Reply(503, PREDICTION_FAILED),
        Reply(500, error_body(500, "InternalServerException", "Worker died.")),
        Reply(507, error_body(507, "InternalServerException", "Out of resources")),
    ],
    ids=["503-prediction-failed", "500-worker-died", "507-out-of-resources"],
)
async def test_a_poison_input_never_opens_the_breaker_for_other_calls(
    make_client, fault_server, fake_clock, poison
):
    fault_server.responders["predictions"] = lambda request: (
        poison if request.text() == "poison" else echo(request)
    )
    client = make_client(failure_threshold=1)

    for _ in range(5):
        with pytest.raises(TorchServeInferenceError):
            await client.classify("poison")
        fake_clock.advance(60.0)
        assert client.breaker.state is BreakerState.CLOSED
        assert (await client.classify("someone else's text")).attempts == 1


async def test_400_token_error_leaves_the_breaker_untouched(make_client, fault_server, metric):
    fault_server.responders["predictions"] = lambda request: Reply(400, BAD_TOKEN)
    client = make_client(failure_threshold=2, token="wrong")

    for _ in range(5):
        with pytest.raises(AuthenticationError) as caught:
            await client.classify("hello")
        assert caught.value.attempts == 1

    assert client.breaker.state is BreakerState.CLOSED
    assert client.breaker.consecutive_failures == 0
    assert fault_server.count() == 5
    assert "wrong" not in str(caught.value)
    assert metric("torchserve_requests_total", status="auth_error") == 5


async def test_handler_400_is_invalid_input(client, fault_server):
    fault_server.script(Reply(400, error_body(400, "InvalidRequest", '"text" is blank')))

    with pytest.raises(InvalidInputError) as caught:
        await client.classify("hello")

    assert caught.value.attempts == 1
    assert client.breaker.consecutive_failures == 0


async def test_404_is_model_not_found(client, fault_server):
    fault_server.script(
        Reply(404, error_body(404, "ModelNotFoundException", "Model not found: intent_classifier"))
    )

    with pytest.raises(ModelNotFoundError, match="TORCHSERVE_MODEL_NAME") as caught:
        await client.classify("hello")

    assert caught.value.attempts == 1
    assert client.breaker.consecutive_failures == 0


async def test_429_retry_after_is_honoured(make_client, fault_server, fake_clock, metric):
    fault_server.script(Reply(429, b"", headers={"Retry-After": "2"}))
    client = make_client()

    prediction = await client.classify("hello")

    assert prediction.attempts == 2
    assert fake_clock.sleeps == [2.0]
    assert metric("torchserve_retry_total", reason="429") == 1
    assert client.breaker.consecutive_failures == 0  # a 4xx, never the server's fault


async def test_429_retry_after_is_capped(make_client, fault_server, fake_clock):
    fault_server.script(Reply(429, b"", headers={"Retry-After": "120"}))
    client = make_client(retry_after_cap=3.0, timeout=30)

    await client.classify("hello")

    assert fake_clock.sleeps == [3.0]


async def test_retry_after_past_the_deadline_gives_up_at_once(
    make_client, fault_server, fake_clock
):
    fault_server.script(Reply(429, b"", headers={"Retry-After": "8"}))
    client = make_client(timeout=2.0)

    with pytest.raises(ServerBusyError) as caught:
        await client.classify("hello")

    assert caught.value.retry_after == 8.0
    assert caught.value.attempts == 1
    assert fake_clock.sleeps == []


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b'{"label": "translation"}',
        json.dumps({**prediction_for("hello"), "confidence": 7}).encode(),
        json.dumps({**prediction_for("hello"), "top_k": []}).encode(),
        json.dumps({**prediction_for("hello"), "intent": 3}).encode(),
        b"[1, 2]",
    ],
    ids=[
        "not-json",
        "wrong-shape",
        "confidence-out-of-range",
        "no-top-k",
        "intent-not-str",
        "list",
    ],
)
async def test_malformed_answer_is_an_inference_error(client, fault_server, body):
    fault_server.script(Reply(200, body))

    with pytest.raises(TorchServeInferenceError, match="not a prediction") as caught:
        await client.classify("hello")

    assert caught.value.attempts == 1
    assert fault_server.count() == 1
    assert client.breaker.consecutive_failures == 1


async def test_token_is_sent_as_bearer(make_client, fault_server):
    client = make_client(token="s3cret")

    await client.classify("hello")

    assert fault_server.requests[0].headers["authorization"] == "Bearer s3cret"


async def test_rotated_key_file_is_reread_after_a_refused_token(
    make_client, fault_server, tmp_path
):
    key_file = tmp_path / "key_file.json"

    def write_keys(inference: str) -> None:
        keys = {"inference": {"key": inference}, "management": {"key": "m"}, "API": {"key": "a"}}
        key_file.write_text(json.dumps(keys))

    write_keys("old")
    fault_server.responders["predictions"] = lambda request: (
        echo(request)
        if request.headers.get("authorization") == "Bearer new"
        else Reply(400, BAD_TOKEN)
    )
    client = make_client(token_file=key_file)
    write_keys("new")  # TorchServe's token API rewrote the file

    prediction = await client.classify("hello")

    assert prediction.attempts == 2
    assert [r.headers["authorization"] for r in fault_server.requests] == [
        "Bearer old",
        "Bearer new",
    ]
