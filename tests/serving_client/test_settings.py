"""ClientSettings: defaults, the environment, and clear errors for bad values."""

from __future__ import annotations

import json

import pytest

from contract import read_key as read_key_file
from serving_client import ClientSettings, TorchServeClient
from serving_client.settings import ENV_VARS


def test_defaults_match_the_documented_ones():
    settings = ClientSettings()

    assert (settings.host, settings.port, settings.management_port) == ("127.0.0.1", 8080, 8081)
    assert (settings.failure_threshold, settings.recovery_timeout) == (5, 60.0)
    assert settings.max_retries == 3
    assert (settings.max_keepalive_connections, settings.max_connections) == (10, 20)
    assert settings.health_check_interval == 30.0
    assert (settings.batch_chunk_size, settings.max_text_chars) == (32, 2048)
    assert settings.use_torchserve
    assert settings.predictions_url == "http://127.0.0.1:8080/predictions/intent_classifier"


def test_every_documented_variable_is_read(tmp_path):
    environ = {
        "TORCHSERVE_HOST": "10.0.0.5",
        "TORCHSERVE_PORT": "9080",
        "TORCHSERVE_MANAGEMENT_PORT": "9081",
        "TORCHSERVE_MODEL_NAME": "other_model",
        "TORCHSERVE_MODEL_VERSION": "2.0",
        "TORCHSERVE_TIMEOUT": "4.5",
        "TORCHSERVE_ATTEMPT_TIMEOUT": "1.5",
        "TORCHSERVE_MAX_RETRIES": "0",
        "TORCHSERVE_TOKEN": "inference-key",
        "TORCHSERVE_MANAGEMENT_TOKEN": "management-key",
        "TORCHSERVE_KEY_FILE": str(tmp_path / "key_file.json"),
        "TORCHSERVE_TRANSPORT": "httpx",
        "TORCHSERVE_MAX_CONNECTIONS": "64",
        "TORCHSERVE_MAX_KEEPALIVE": "32",
        "TORCHSERVE_BATCH_CHUNK_SIZE": "16",
        "TORCHSERVE_MAX_TEXT_CHARS": "100",
        "TORCHSERVE_OVERLONG_TEXT": "reject",
        "CIRCUIT_BREAKER_FAILURE_THRESHOLD": "2",
        "CIRCUIT_BREAKER_RECOVERY_TIMEOUT": "7",
        "CIRCUIT_BREAKER_HALF_OPEN_PROBES": "3",
        "HEALTH_CHECK_INTERVAL": "11",
        "HEALTH_CHECK_TIMEOUT": "2",
        "USE_TORCHSERVE": "false",
        "LOCAL_MODEL_PATH": str(tmp_path),
    }
    assert set(environ) == set(ENV_VARS)

    settings = ClientSettings.from_env(environ)

    assert settings.predictions_url == "http://10.0.0.5:9080/predictions/other_model/2.0"
    assert settings.management_url == "http://10.0.0.5:9081"
    assert (settings.timeout, settings.attempt_timeout, settings.max_retries) == (4.5, 1.5, 0)
    assert settings.inference_key() == "inference-key"
    assert settings.management_key() == "management-key"
    assert settings.transport == "httpx"
    assert (settings.max_connections, settings.max_keepalive_connections) == (64, 32)
    assert (settings.batch_chunk_size, settings.max_text_chars) == (16, 100)
    assert settings.overlong_text == "reject"
    assert (settings.failure_threshold, settings.recovery_timeout) == (2, 7.0)
    assert settings.half_open_probes == 3
    assert (settings.health_check_interval, settings.health_check_timeout) == (11.0, 2.0)
    assert (settings.use_torchserve, settings.local_model_path) == (False, tmp_path)


def test_unset_and_empty_variables_keep_defaults():
    settings = ClientSettings.from_env({"TORCHSERVE_PORT": "", "UNRELATED": "x"})

    assert settings == ClientSettings()


def test_bad_value_names_the_variable_to_fix():
    with pytest.raises(ValueError, match=r"port \(TORCHSERVE_PORT\)"):
        ClientSettings.from_env({"TORCHSERVE_PORT": "eighty"})
    with pytest.raises(
        ValueError, match=r"failure_threshold \(CIRCUIT_BREAKER_FAILURE_THRESHOLD\)"
    ):
        ClientSettings.from_env({"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "0"})


def test_settings_are_frozen():
    settings = ClientSettings()

    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match="prot"):
        TorchServeClient(prot=8080)


def test_keepalive_above_max_connections_is_refused():
    with pytest.raises(ValueError, match="max_keepalive_connections"):
        ClientSettings(max_connections=5, max_keepalive_connections=6)


def test_local_mode_needs_a_model_path():
    with pytest.raises(ValueError, match="LOCAL_MODEL_PATH"):
        ClientSettings.from_env({"USE_TORCHSERVE": "false"})


def test_tokens_stay_out_of_repr_and_errors():
    settings = ClientSettings(token="top-secret")

    assert "top-secret" not in repr(settings)
    with pytest.raises(ValueError) as caught:
        ClientSettings.from_env({"TORCHSERVE_TOKEN": "top-secret", "TORCHSERVE_PORT": "x"})
    assert "top-secret" not in str(caught.value)


def test_replace_validates_again():
    settings = ClientSettings()

    assert settings.replace(port=9000).port == 9000
    with pytest.raises(ValueError, match="port"):
        settings.replace(port=0)


def test_key_file_supplies_both_tokens(tmp_path):
    key_file = tmp_path / "key_file.json"
    key_file.write_text(
        json.dumps(
            {"inference": {"key": "inf"}, "management": {"key": "mgmt"}, "API": {"key": "a"}}
        )
    )

    settings = ClientSettings(token_file=key_file)

    assert (settings.inference_key(), settings.management_key()) == ("inf", "mgmt")
    assert ClientSettings(token_file=key_file, token="explicit").inference_key() == "explicit"


def test_key_file_problems_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_key_file(tmp_path / "missing.json", "inference")
    broken = tmp_path / "broken.json"
    broken.write_text('{"management": {"key": "m"}}')
    with pytest.raises(ValueError, match="no 'inference' key"):
        read_key_file(broken, "inference")
