"""ops.server and ops.serve: the server config, and `start`/`stop` as `make serve` runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from ops.serve import main
from ops.server import (
    CONFIG_FILE,
    LOG_CONFIG_FILE,
    Ports,
    RunningTorchServe,
    read_properties,
)


def test_project_server_config_is_loopback_with_tokens_and_no_model_api() -> None:
    props = read_properties(CONFIG_FILE)
    for key in ("inference_address", "management_address", "metrics_address"):
        assert props[key].startswith("http://127.0.0.1:")
    assert props["grpc_inference_address"] == props["grpc_management_address"] == "127.0.0.1"
    assert props["disable_token_authorization"] == "false"
    assert props["enable_model_api"] == "false"
    assert int(props["job_queue_size"]) > 0
    assert int(props["default_response_timeout"]) > 0
    assert int(props["max_request_size"]) > 0


def test_project_log_config_keeps_the_access_log_and_drops_batch_chatter() -> None:
    loggers = {
        logger.get("name"): logger.get("level")
        for logger in ET.parse(LOG_CONFIG_FILE).getroot().iter("Logger")
    }
    assert loggers["ACCESS_LOG"] == "info"
    assert loggers["org.pytorch.serve"] == "info"
    assert loggers["org.pytorch.serve.wlm.BatchAggregator"] == "warn"


def test_ports_read_from_config_and_free_ports_are_distinct() -> None:
    assert Ports.from_properties(read_properties(CONFIG_FILE)) == Ports(
        8080, 8081, 8082, 7070, 7071
    )
    free = Ports.free()
    assert len(set(vars(free).values())) == 5


def test_read_properties_skips_comments_and_keeps_equals_in_values(tmp_path: Path) -> None:
    path = tmp_path / "x.properties"
    path.write_text("# note\nvmargs=-Xmx1g -Dk=v\n\n  key = value \n")
    assert read_properties(path) == {"vmargs": "-Xmx1g -Dk=v", "key": "value"}


@pytest.fixture
def free_port_config(tmp_path: Path) -> Path:
    """The project's config.properties on free ports, so the test runs beside a `make serve`."""
    ports = Ports.free()
    props = read_properties(CONFIG_FILE) | {
        "inference_address": f"http://127.0.0.1:{ports.inference}",
        "management_address": f"http://127.0.0.1:{ports.management}",
        "metrics_address": f"http://127.0.0.1:{ports.metrics}",
        "grpc_inference_port": str(ports.grpc_inference),
        "grpc_management_port": str(ports.grpc_management),
    }
    path = tmp_path / "config.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


@pytest.mark.slow
def test_start_and_stop_cli(
    tiny_archive: Path, free_port_config: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    # A checkout of its own, so this runs beside a real `make serve` of the project.
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    state_dir = tmp_path / ".torchserve"
    common = ["--model-store", str(tiny_archive.parent), "--state-dir", str(state_dir)]
    assert main(["start", *common, "--config", str(free_port_config)]) == 0
    try:
        printed = capsys.readouterr().out
        key_file = state_dir / "key_file.json"
        assert f"Token key file: {key_file}" in printed
        assert "curl -s http://127.0.0.1:" in printed
        state = json.loads((state_dir / "server.json").read_text())
        assert "inference_token" not in state and "management_token" not in state
        keys = json.loads(key_file.read_text())
        assert keys["inference"]["key"] not in printed + json.dumps(state)
        server = RunningTorchServe.load_state(state_dir / "server.json")
        response = httpx.post(
            f"{server.inference_url}/predictions/intent_classifier",
            json={"text": "Book me a table for two"},
            headers=server.auth_headers(),
        )
        assert response.status_code == 200, response.text
        # The README's next command works with no key setting: the CLI finds the key file.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TORCHSERVE_") or k == "TORCHSERVE_PORT"
        }
        env.update(PROJECT_ROOT=str(tmp_path), TORCHSERVE_PORT=str(server.inference_port))
        cli = subprocess.run(
            [sys.executable, "-m", "serving_client", "classify", "Book me a table for two"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["model_version"] == "1.0"
        assert main(["start", *common, "--config", str(free_port_config)]) == 1
        assert "already running" in capsys.readouterr().err
    finally:
        assert main(["stop", "--state-dir", str(state_dir)]) == 0
    assert not server.is_running()
    assert not key_file.exists()
    assert not (state_dir / "server.json").exists()
    assert main(["stop", "--state-dir", str(state_dir)]) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_start_without_an_archive_says_how_to_build_one(tmp_path: Path, capsys) -> None:
    assert main(["start", "--model-store", str(tmp_path), "--state-dir", str(tmp_path / "s")]) == 1
    assert "python -m train.package" in capsys.readouterr().err


def test_stop_leaves_alone_a_process_that_reused_the_recorded_pid(tmp_path: Path, capsys) -> None:
    # After a crash or a reboot the pid in server.json may belong to anything: here, a sleep that
    # leads its own process group, as the TorchServe launcher did.
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        stale = RunningTorchServe(
            host="127.0.0.1",
            inference_port=1,
            management_port=2,
            metrics_port=3,
            model_name="intent_classifier",
            workdir=state_dir,
            key_file=state_dir / "key_file.json",
            inference_token=None,
            management_token=None,
            pid=stranger.pid,
            started=1,  # not the stranger's start time
        )
        stale.save_state(state_dir / "server.json")
        assert not RunningTorchServe.load_state(state_dir / "server.json").is_running()
        assert main(["stop", "--state-dir", str(state_dir)]) == 0
        assert stranger.poll() is None, "stop signalled a process that is not its TorchServe"
    finally:
        stranger.kill()
        stranger.wait()
