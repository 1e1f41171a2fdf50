"""The blocking wrapper and ``python -m serving_client``, against the stub server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry

from serving_client import IntentPrediction, InvalidInputError, SyncTorchServeClient
from serving_client.cli import main
from tests.serving_client.fakes import Reply, echo, error_body, prediction_for


def test_sync_client_makes_the_same_calls(fault_server):
    with SyncTorchServeClient(port=fault_server.port, registry=CollectorRegistry()) as client:
        prediction = client.classify("book a table")
        batch = client.classify_batch(["a", "", "b"])
        health = client.health()

    assert prediction.intent == prediction_for("book a table")["intent"]
    assert [type(r) for r in batch] == [IntentPrediction, InvalidInputError, IntentPrediction]
    assert health.healthy


def test_sync_client_from_env(fault_server):
    environ = {"TORCHSERVE_PORT": str(fault_server.port), "TORCHSERVE_TOKEN": "t"}
    with SyncTorchServeClient.from_env(environ, registry=CollectorRegistry()) as client:
        client.classify("hello")

    assert fault_server.requests[0].headers["authorization"] == "Bearer t"


@pytest.fixture
def stub_env(fault_server, monkeypatch):
    for name in ("TORCHSERVE_HOST", "TORCHSERVE_TOKEN", "TORCHSERVE_KEY_FILE", "USE_TORCHSERVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCHSERVE_PORT", str(fault_server.port))
    monkeypatch.setenv("TORCHSERVE_MANAGEMENT_PORT", str(fault_server.port))
    monkeypatch.setenv("TORCHSERVE_MAX_RETRIES", "0")
    return fault_server


def test_cli_classifies_a_text(stub_env, capsys):
    assert main(["classify", "how do I say thanks in Welsh"]) == 0

    output = json.loads(capsys.readouterr().out)
    assert output["intent"] == prediction_for("how do I say thanks in Welsh")["intent"]
    assert output["attempts"] == 1


def test_cli_file_gives_one_line_per_input_line_in_order(stub_env, tmp_path, capsys):
    stub_env.responders["predictions"] = lambda request: (
        Reply(503, error_body(503, "InternalServerException", "Prediction failed"))
        if request.text() == "explode"
        else echo(request)
    )
    lines = ["first prompt", "", "explode", "last prompt"]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")

    status = main(["classify", "--file", str(prompts)])

    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert len(out) == 4
    assert out[0]["intent"] == prediction_for("first prompt")["intent"]
    assert out[1]["error"]["type"] == "InvalidInputError"
    assert out[2]["error"]["type"] == "TorchServeInferenceError"
    assert out[3]["intent"] == prediction_for("last prompt")["intent"]


def test_cli_health_and_info(stub_env, capsys):
    assert main(["health"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "Healthy"
    assert main(["info"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == "1.0"


def test_cli_reports_a_failed_call_on_stderr(stub_env, capsys):
    stub_env.script(Reply(404, error_body(404, "ModelNotFoundException", "Model not found")))

    assert main(["classify", "hello"]) == 1

    captured = capsys.readouterr()
    assert json.loads(captured.err.splitlines()[-1])["error"]["type"] == "ModelNotFoundError"


def test_cli_bad_settings_exit_2_naming_the_variable(stub_env, monkeypatch, capsys):
    monkeypatch.setenv("TORCHSERVE_TIMEOUT", "-1")

    assert main(["health"]) == 2
    assert "TORCHSERVE_TIMEOUT" in capsys.readouterr().err


def test_module_entry_point_reads_stdin(stub_env):
    done = subprocess.run(
        [sys.executable, "-m", "serving_client", "classify", "--file", "-"],
        input="one\ntwo\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["intent"] for line in done.stdout.splitlines()] == [
        prediction_for("one")["intent"],
        prediction_for("two")["intent"],
    ]
