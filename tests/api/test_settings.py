"""The API's settings: keys from the variable and the key file, the refusal to run without keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from api import ApiSettings
from api.settings import MIN_KEY_CHARS

KEY = "a" * MIN_KEY_CHARS
SECOND = "b" * 24


def test_defaults_bind_loopback_port_8000_with_keys_from_the_variable() -> None:
    settings = ApiSettings.from_env({"INTENT_API_KEYS": f" {KEY} , {SECOND},"})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.keys() == (KEY, SECOND)
    assert settings.auth == "on" and settings.log_prompts is False
    assert KEY not in repr(settings)  # SecretStr


def test_key_file_keys_join_the_variables_with_comments_and_blanks_skipped(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026-01\n\n{SECOND}\n{KEY}\n")
    settings = ApiSettings.from_env({"INTENT_API_KEYS": KEY, "INTENT_API_KEY_FILE": str(key_file)})
    assert settings.keys() == (KEY, SECOND)


def test_no_key_refuses_to_start_and_says_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match="no API key configured") as caught:
        ApiSettings.from_env({})
    assert "INTENT_API_KEYS" in str(caught.value) and "INTENT_API_AUTH=off" in str(caught.value)


def test_auth_off_must_be_said_explicitly() -> None:
    assert ApiSettings.from_env({"INTENT_API_AUTH": "OFF"}).auth == "off"
    with pytest.raises(ValueError, match="INTENT_API_AUTH"):
        ApiSettings.from_env({"INTENT_API_AUTH": "maybe"})


@pytest.mark.parametrize(
    ("key", "problem"),
    [("short-key", "fewer than"), ("has space" + "x" * 16, "printable"), ("é" * 20, "printable")],
)
def test_weak_or_unsendable_keys_are_refused_without_quoting_them(key: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        ApiSettings.from_env({"INTENT_API_KEYS": key})
    assert key not in str(caught.value)
    assert "secrets.token_urlsafe" in str(caught.value)


def test_an_unreadable_key_file_is_named() -> None:
    with pytest.raises(ValueError, match="INTENT_API_KEY_FILE"):
        ApiSettings.from_env({"INTENT_API_KEY_FILE": "/no/such/keys"})


@pytest.mark.parametrize("limit", ["600/minute", "10/second;1000/hour", "5 per minute"])
def test_rate_limits_in_the_limits_syntax_are_accepted(limit: str) -> None:
    env = {"INTENT_API_KEYS": KEY, "INTENT_API_RATE_LIMIT": limit}
    assert ApiSettings.from_env(env).rate_limit == limit


def test_a_bad_rate_limit_names_its_variable() -> None:
    with pytest.raises(ValueError, match=r"INTENT_API_RATE_LIMIT.*600/minute"):
        ApiSettings.from_env({"INTENT_API_KEYS": KEY, "INTENT_API_RATE_LIMIT": "lots"})


def test_settings_are_frozen() -> None:
    settings = ApiSettings(api_keys=[KEY])
    with pytest.raises(ValueError):
        settings.port = 9000  # type: ignore[misc]
