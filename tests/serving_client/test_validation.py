"""Input checks: nothing invalid reaches the server."""

from __future__ import annotations

import json

import pytest

from serving_client import InvalidInputError
from serving_client.validation import check_text


@pytest.mark.parametrize("text", [None, 3, b"bytes", ["a list"]])
def test_non_strings_are_refused(text):
    with pytest.raises(InvalidInputError, match="must be a str"):
        check_text(text, max_chars=10, overlong="truncate")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_text_is_refused(text):
    with pytest.raises(InvalidInputError, match="no visible character"):
        check_text(text, max_chars=10, overlong="truncate")


def test_overlong_text_is_truncated_or_rejected_by_policy():
    assert check_text("x" * 12, max_chars=10, overlong="truncate") == ("x" * 10, True)
    assert check_text("x" * 10, max_chars=10, overlong="reject") == ("x" * 10, False)
    with pytest.raises(InvalidInputError, match="TORCHSERVE_MAX_TEXT_CHARS"):
        check_text("x" * 11, max_chars=10, overlong="reject")


async def test_truncation_is_flagged_and_applied_before_sending(make_client, fault_server):
    client = make_client(max_text_chars=2048)

    prediction = await client.classify("é" * 3000)

    assert prediction.truncated
    assert json.loads(fault_server.requests[0].body)["text"] == "é" * 2048


async def test_invalid_input_never_reaches_the_server(make_client, fault_server, metric):
    client = make_client(overlong_text="reject", max_text_chars=5)

    for text in ("", 7, "toolong"):
        with pytest.raises(InvalidInputError):
            await client.classify(text)

    assert fault_server.count() == 0
    assert metric("torchserve_requests_total", status="invalid_input") == 3
