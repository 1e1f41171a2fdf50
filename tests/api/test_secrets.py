"""No API key (configured or presented) and no TorchServe token reaches a log record, at DEBUG,
on any error path; prompts only with INTENT_API_LOG_PROMPTS=true."""

from __future__ import annotations

import io
import json
import logging

import pytest

from api import create_app
from api.logs import JsonFormatter, RedactingFilter
from contract import read_key
from serving_client.redaction import SECRET_FILTER
from tests.api.support import (
    AUTH,
    KEY,
    OTHER_KEY,
    ScriptedClient,
    leaks,
    serve_in_process,
    settings,
)
from tests.api.test_app import CLIENT_ERRORS

INTRUDER_KEY = "intruder-key-5555aaaa7777bbbb"
PROMPT = "my private prompt about the merger"


async def _every_error_path(http, client: ScriptedClient | None) -> list[int]:
    """Requests down each error path the API has; the statuses they got."""
    statuses = []
    for headers in ({}, {"Authorization": f"Bearer {INTRUDER_KEY}"}, {"Authorization": KEY}):
        statuses.append(
            (await http.post("/v1/classify", json={"text": PROMPT}, headers=headers)).status_code
        )
    for body in (b"{bad json", b'{"text": ""}', json.dumps({"text": "x" * 70_000}).encode()):
        response = await http.post(
            "/v1/classify", content=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        statuses.append(response.status_code)
    if client is not None:
        for error, *_ in CLIENT_ERRORS:
            client.error = error
            for path in ("/v1/classify", "/v1/enhance"):
                response = await http.post(path, json={"text": PROMPT}, headers=AUTH)
                statuses.append(response.status_code)
            batch = await http.post(
                "/v1/classify/batch", json={"texts": [PROMPT, ""]}, headers=AUTH
            )
            statuses.append(batch.status_code)
        client.error = RuntimeError("boom")
        statuses.append(
            (await http.post("/v1/classify", json={"text": PROMPT}, headers=AUTH)).status_code
        )
        client.error, client.healthy = None, False
    statuses.append((await http.get("/health/ready")).status_code)
    return statuses


async def _rate_limited(client=None) -> list[int]:
    """Two requests to an app allowing one a minute."""
    app = create_app(settings(rate_limit="1/minute"), **({"client": client} if client else {}))
    async with serve_in_process(app) as http:
        return [
            (await http.post("/v1/enhance", json={"text": PROMPT}, headers=AUTH)).status_code
            for _ in range(2)
        ]


async def test_no_key_reaches_the_logs_on_any_error_path(scripted, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(settings(), client=scripted)
    async with serve_in_process(app) as http:
        statuses = await _every_error_path(http, scripted.last)
    statuses += await _rate_limited(scripted)
    assert {401, 413, 422, 429, 500, 502, 503} <= set(statuses)
    assert len(caplog.records) > len(statuses)  # every request logged, and the faults too
    assert leaks([KEY, OTHER_KEY, INTRUDER_KEY], caplog.records) == []
    # Prompts are not logged by default: not in the access lines, not in the error lines.
    assert leaks([PROMPT], [r for r in caplog.records if r.name.startswith("api")]) == []
    # The access lines name the key by its id.
    assert any(getattr(r, "key_id", None) for r in caplog.records)


async def test_prompts_are_logged_only_when_asked(scripted, caplog) -> None:
    caplog.set_level(logging.INFO, logger="api")
    app = create_app(settings(log_prompts=True), client=scripted)
    async with serve_in_process(app) as http:
        await http.post("/v1/classify", json={"text": PROMPT}, headers=AUTH)
    (line,) = [r for r in caplog.records if r.name == "api.access"]
    assert line.text == PROMPT and line.intent


@pytest.mark.slow
async def test_no_key_or_torchserve_token_reaches_the_logs_against_a_real_torchserve(
    with_torchserve, monkeypatch, caplog
) -> None:
    token = read_key(with_torchserve.key_file, "inference")
    management = read_key(with_torchserve.key_file, "management")
    caplog.set_level(logging.DEBUG)
    async with serve_in_process(create_app(settings())) as http:
        ok = await http.post("/v1/classify/batch", json={"texts": [PROMPT, ""]}, headers=AUTH)
        assert ok.status_code == 200
        await _every_error_path(http, None)
    assert await _rate_limited() == [200, 429]

    # The API's own token refused by TorchServe: a 503 for the caller, an error in the log.
    wrong = "wrong-torchserve-token-0123456789"
    monkeypatch.setenv("TORCHSERVE_TOKEN", wrong)
    async with serve_in_process(create_app(settings())) as http:
        refused = await http.post("/v1/classify", json={"text": PROMPT}, headers=AUTH)
        ready = await http.get("/health/ready")
    assert refused.status_code == 503 and ready.status_code == 503
    assert any(r.levelno == logging.ERROR and r.name == "api.errors" for r in caplog.records)
    secrets = [KEY, OTHER_KEY, INTRUDER_KEY, token, management, wrong]
    assert leaks(secrets, caplog.records) == []


def test_the_log_handler_redacts_what_a_library_might_log() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    SECRET_FILTER.add(KEY)  # what configure_logging does with the configured keys
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    try:
        logger.warning("sent Authorization: Bearer %s", INTRUDER_KEY, extra={"headers": [KEY]})
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "sent Authorization: Bearer [redacted]"
    assert lines[0]["headers"] == ["[redacted]"]
    assert "bad key [redacted]" in lines[1]["exception"]
    assert KEY not in stream.getvalue() and INTRUDER_KEY not in stream.getvalue()
