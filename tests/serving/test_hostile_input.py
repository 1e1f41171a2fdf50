"""Whatever one request holds, it harms nobody but its sender: sent into a real TorchServe batch
among valid requests, a hostile body gets an answer of its own (never a 5xx) and its neighbours
get their predictions."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import check_prediction
from handlers.intent_handler import BATCH_SIZE_HEADER
from tests.serving.conftest import BATCHING_MODEL

pytestmark = pytest.mark.slow

NEIGHBOURS = ["Translate 'good luck' into Italian", "why is the sea salty", "plan my week"]
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
INVISIBLE = st.sampled_from(["\u200b", "\ufeff", "\x00", "\u2060", " ", "\u200d", "\u0301"])


def _json_text(text: str) -> bytes:
    # ensure_ascii writes lone surrogates as \\udXXX escapes: valid JSON, invalid Unicode.
    return json.dumps({"text": text}, ensure_ascii=True).encode()


def _nested(depth: int, leaf: str) -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

HOSTILE = st.one_of(
    st.binary(max_size=300),
    st.lists(SURROGATES | st.characters(), min_size=1, max_size=20).map("".join).map(_json_text),
    st.lists(INVISIBLE, min_size=1, max_size=30).map("".join).map(_json_text),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    JSON_VALUES.map(lambda value: json.dumps({"text": value}).encode()),
    st.integers(1000, 20000).map(lambda depth: _nested(depth, '{"text": "hi"}')),
    st.integers(1000, 20000).map(lambda depth: b'{"text": ' + _nested(depth, "1") + b"}"),
    st.integers(33_000, 60_000).map(lambda size: _json_text("a" * size)),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "application/octet-stream"])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=HOSTILE, content_type=CONTENT_TYPES)
def test_a_hostile_request_never_fails_its_batch(batching_server, body: bytes, content_type: str):
    url = f"{batching_server.inference_url}/predictions/{BATCHING_MODEL}"
    auth = batching_server.auth_headers()

    async def send_together() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            hostile = client.post(url, content=body, headers={**auth, "Content-Type": content_type})
            honest = [client.post(url, json={"text": text}, headers=auth) for text in NEIGHBOURS]
            return await asyncio.gather(hostile, *honest)

    bad, *good = asyncio.run(send_together())
    assert bad.status_code == 200 or 400 <= bad.status_code < 500, (bad.status_code, bad.text)
    if bad.status_code != 200:
        assert bad.json()["message"], bad.text  # says what to fix
    for response in good:
        assert response.status_code == 200, response.text
        check_prediction(response.json())
    # The requests really shared forward passes (the server waits 500 ms for company).
    assert max(int(r.headers.get(BATCH_SIZE_HEADER, 1)) for r in good) > 1
