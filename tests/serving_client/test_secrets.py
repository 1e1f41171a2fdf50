"""The token reaches no log record, error, metric or settings repr, whatever fails."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving_client import ClientSettings, TorchServeClient, TorchServeError
from serving_client.redaction import REDACTED, SECRET_FILTER, describe_error
from tests.serving_client.fakes import Hang, Raw, Reply, Reset, error_body
from tests.serving_client.leaks import leaks

TOKEN = "tok-3f9a1c7e5b2d4f608a9e1c3b5d7f9a2c"
MANAGEMENT_TOKEN = "mgmt-8e2c4a6f0b1d3e5f7a9c2e4b6d8f0a1c"
ROUTES = ("predictions", "ping", "models")

FAULTS = {
    "reset-mid-response": Reset(),
    "garbage-not-http": Raw(b"GARBAGE garbage\r\n\r\n"),
    "truncated-body": Raw(b'HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n{"intent"'),
    "non-json-200": Reply(200, b"<html>oops</html>"),
    "400-bad-token": Reply(
        400, error_body(400, "InvalidKeyException", "Token Authorization failed.")
    ),
    "401": Reply(401, b""),
    "404": Reply(404, error_body(404, "ModelNotFoundException", "Model not found")),
    "413": Reply(413, error_body(413, "RequestEntityTooLarge", "request too large")),
    "429-retry-after": Reply(429, b"", headers={"Retry-After": "1"}),
    "500": Reply(500, error_body(500, "InternalServerException", "Worker died.")),
    "502": Reply(502, b"<html>Bad Gateway</html>"),
    "503-busy": Reply(503, error_body(503, "ServiceUnavailableException", "no worker")),
    "503-prediction-failed": Reply(
        503, error_body(503, "InternalServerException", "Prediction failed")
    ),
    "504": Reply(504, b""),
    "slow-timeout": Hang(),
}


@pytest.fixture(params=["aiohttp", "httpx-aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


def secret_client(make_client, **options) -> TorchServeClient:
    options = {
        "token": TOKEN,
        "management_token": MANAGEMENT_TOKEN,
        "timeout": 0.3,
        "health_check_timeout": 0.3,
        "max_retries": 1,
        **options,
    }
    return make_client(**options)


async def exercise(client: TorchServeClient) -> tuple[list[BaseException], list[str]]:
    """Every call of the client once; what it raised and what it returned as text."""
    errors: list[BaseException] = []
    try:
        await client.classify("hello")
    except TorchServeError as error:
        errors.append(error)
    status = await client.health()
    try:
        await client.model_info()
    except TorchServeError as error:
        errors.append(error)
    settings = client.settings
    return errors, [status.model_dump_json(), repr(settings), str(settings)]


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_no_fault_leaks_the_token(make_client, fault_server, registry, caplog, fault):
    caplog.set_level(logging.DEBUG)
    for route in ROUTES:
        fault_server.responders[route] = lambda request: FAULTS[fault]
    client = secret_client(make_client)

    errors, texts = await exercise(client)

    assert fault_server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    for secret in (TOKEN, MANAGEMENT_TOKEN):
        found = leaks(secret, records=caplog.records, errors=errors, registry=registry, texts=texts)
        assert not found, found
    # The first line of defence held: nothing the client logged needed the filter.
    assert not [r.getMessage() for r in caplog.records if REDACTED in r.getMessage()]


async def test_a_refused_connection_leaks_no_token(make_client, refused_port, registry, caplog):
    caplog.set_level(logging.DEBUG)
    client = secret_client(make_client, port=refused_port, management_port=refused_port)

    errors, texts = await exercise(client)

    assert errors
    for secret in (TOKEN, MANAGEMENT_TOKEN):
        found = leaks(secret, records=caplog.records, errors=errors, registry=registry, texts=texts)
        assert not found, found


async def test_a_server_echoing_the_token_is_redacted_from_the_log(
    make_client, fault_server, registry, caplog
):
    caplog.set_level(logging.DEBUG)

    def echo_header(request):
        header = request.headers.get("authorization", "")
        return Reply(500, error_body(500, "InternalServerException", f"bad header {header}"))

    for route in ROUTES:
        fault_server.responders[route] = echo_header
    client = secret_client(make_client)

    errors, texts = await exercise(client)

    for secret in (TOKEN, MANAGEMENT_TOKEN):
        found = leaks(secret, records=caplog.records, errors=errors, registry=registry, texts=texts)
        assert not found, found
    assert any(REDACTED in record.getMessage() for record in caplog.records)


def test_settings_never_show_a_token():
    settings = ClientSettings(token=TOKEN, management_token=MANAGEMENT_TOKEN)

    texts = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]

    assert not leaks(TOKEN, texts=texts)
    assert not leaks(MANAGEMENT_TOKEN, texts=texts)


def test_the_filter_redacts_bearer_values_known_tokens_and_tracebacks(caplog):
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("serving_client.remote")
    SECRET_FILTER.add(TOKEN)

    logger.warning("sent %s", f"Authorization: Bearer {'x' * 12}")
    logger.warning("key was %s", TOKEN)
    try:
        raise ValueError(f"header value {TOKEN!r} refused")
    except ValueError:
        logger.exception("request failed")

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == f"sent Authorization: Bearer {REDACTED}"
    assert messages[1] == f"key was {REDACTED}"
    assert not leaks(TOKEN, records=caplog.records)
    assert REDACTED in caplog.text


def test_every_logger_of_the_package_carries_the_filter():
    names = [n for n in logging.root.manager.loggerDict if n.startswith("serving_client.")]

    assert {"serving_client.remote", "serving_client.client", "serving_client.breaker"} <= {*names}
    for name in ["serving_client", *names]:
        assert SECRET_FILTER in logging.getLogger(name).filters, name


def test_describe_gives_the_type_and_message_never_the_repr():
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {TOKEN}"}))
    info = aiohttp.RequestInfo(URL("http://h/p"), "POST", headers, URL("http://h/p"))
    error = aiohttp.ClientResponseError(info, (), status=400, message="Bad status line")

    assert TOKEN in repr(error)  # what the client must never log
    assert describe_error(error).startswith("ClientResponseError: 400, message='Bad status line'")
    assert TOKEN not in describe_error(error)


@given(st.text(max_size=80))
def test_redacting_twice_changes_nothing(text: str) -> None:
    from serving_client.redaction import SecretFilter

    secrets = SecretFilter()
    secrets.add("s3cr3t-token-value")
    once = secrets.redact(f"Authorization: Bearer {text} s3cr3t-token-value")
    assert secrets.redact(once) == once
    assert "s3cr3t-token-value" not in once
