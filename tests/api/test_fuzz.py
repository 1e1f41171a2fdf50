"""Whatever a caller sends, the API answers 2xx or 4xx, never 5xx (property tests)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from tests.api.support import AUTH, ScriptedClient
from tests.api.support import settings as api_settings

PATHS = ["/v1/classify", "/v1/classify/batch", "/v1/enhance"]

# Any Unicode, lone surrogates included (json.dumps escapes them as \udXXX).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.text(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
# Bodies shaped like requests, with any value in each field.
near_requests = st.fixed_dictionaries(
    {},
    optional={
        "text": json_values,
        "texts": st.lists(json_values, max_size=5) | json_values,
        "intent": json_values | st.sampled_from(["reasoning", "translation", ""]),
    },
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "text/plain",
        "",
        "application/x+json",
    ]
)


def _client() -> TestClient:
    app = create_app(api_settings(rate_limit="1000000/minute"), client=ScriptedClient)
    return TestClient(app, raise_server_exceptions=False)


def _no_5xx(http: TestClient, path: str, body: bytes, content_type: str) -> None:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    response = http.post(path, content=body, headers=headers)
    assert response.status_code < 500, (path, body[:200], response.status_code, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_random_bytes_never_get_a_5xx() -> None:
    with _client() as http:

        @FUZZ
        @given(path=st.sampled_from(PATHS), body=st.binary(max_size=300), kind=content_types)
        def check(path: str, body: bytes, kind: str) -> None:
            _no_5xx(http, path, body, kind)

        check()


def test_random_json_never_gets_a_5xx() -> None:
    with _client() as http:

        @FUZZ
        @given(path=st.sampled_from(PATHS), value=json_values | near_requests)
        def check(path: str, value: object) -> None:
            _no_5xx(http, path, json.dumps(value).encode(), "application/json")

        check()


def test_random_unicode_texts_never_get_a_5xx() -> None:
    with _client() as http:

        @FUZZ
        @given(
            path=st.sampled_from(PATHS), text=any_text, encoding=st.sampled_from(["escaped", "raw"])
        )
        def check(path: str, text: str, encoding: str) -> None:
            field = {"texts": [text, "ok"]} if path.endswith("batch") else {"text": text}
            as_json = json.dumps(field, ensure_ascii=encoding == "escaped")
            body = as_json.encode("utf-8", "surrogatepass")  # raw: invalid UTF-8 for surrogates
            _no_5xx(http, path, body, "application/json")

        check()
