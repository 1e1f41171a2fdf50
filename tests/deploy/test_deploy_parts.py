"""The deploy tool's parts without a TorchServe: the shipped allowed_urls, archive URLs and their
check, fleets and keys, signals, exit codes, and refusals that happen before any server is asked."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.artifacts import (
    ArchiveRefused,
    check_archive_url,
    download_verified,
    mlflow_artifact_url,
)
from ops.deploy import main
from ops.fleet import FleetError, ServerAddress, fleet_keys, load_fleet
from ops.properties import read_properties
from ops.rollout import DeployReport
from ops.server import CONFIG_FILE
from ops.signals import Interrupted, SignalGuard

MLFLOW_URL = (
    "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/0a1b/artifacts/torchserve/"
    "intent_classifier-7.mar"
)


def admitted(url: str) -> bool:
    """Whether conf/serve's allowed_urls admit ``url``, as TorchServe matches them: each
    comma-separated regex against the whole URL, ignoring case."""
    patterns = read_properties(CONFIG_FILE)["allowed_urls"].split(",")
    return any(re.fullmatch(p, url, re.IGNORECASE) for p in patterns)


def test_shipped_config_keeps_the_model_api_off() -> None:
    assert read_properties(CONFIG_FILE)["enable_model_api"] == "false"


def test_shipped_allowed_urls_admit_only_local_mlflow_archives() -> None:
    # Java properties read "\." as "."; the patterns must not rely on backslashes.
    assert "\\" not in read_properties(CONFIG_FILE)["allowed_urls"]
    assert admitted(MLFLOW_URL)
    for url in (
        "file:///srv/model_store/intent_classifier-7.mar",
        "FILE:///tmp/x.mar",
        MLFLOW_URL.replace("127.0.0.1", "127.0.0.1.attacker.example"),
        MLFLOW_URL.replace("127.0.0.1", "localhost"),
        MLFLOW_URL.replace("http://127.0.0.1:5000", "https://example.com"),
        MLFLOW_URL.replace(".mar", ".tar.gz"),
        MLFLOW_URL + "?x=.mar",
        "http://127.0.0.1:5000/elsewhere/intent_classifier-7.mar",
    ):
        assert not admitted(url), url


def test_mlflow_artifact_url_follows_the_artifact_servers_route() -> None:
    uri = "mlflow-artifacts:/1/0a1b/artifacts"
    assert mlflow_artifact_url(uri, "torchserve/m-7.mar", "http://127.0.0.1:5000") == (
        "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/0a1b/artifacts/torchserve/m-7.mar"
    )
    # Credentials stay out of a URL that servers and reports see; a path prefix is kept.
    assert mlflow_artifact_url(uri, "m.mar", "https://u:p@mlflow.example/prefix/").startswith(
        "https://mlflow.example/prefix/api/2.0/mlflow-artifacts/artifacts/1/0a1b/"
    )
    assert mlflow_artifact_url("mlflow-artifacts://store:5000/1/r/artifacts", "m.mar") == (
        "http://store:5000/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/m.mar"
    )
    for not_served in ("s3://bucket/1/r/artifacts", "file:///tmp/mlruns/1/r/artifacts"):
        with pytest.raises(ArchiveRefused, match="--serve-artifacts"):
            mlflow_artifact_url(not_served, "m.mar", "http://127.0.0.1:5000")


@pytest.mark.parametrize(
    "url",
    [
        "file:///tmp/intent_classifier-7.mar",
        "/tmp/intent_classifier-7.mar",
        "http://127.0.0.1:5000/get-artifact?path=torchserve/intent_classifier-7.mar",
        "http://user:secret@127.0.0.1:5000/a/intent_classifier-7.mar",
        "http://127.0.0.1:5000/a/../intent_classifier-7.mar",
    ],
)
def test_archive_url_must_be_http_and_end_in_a_mar_name(url: str) -> None:
    with pytest.raises(ArchiveRefused):
        check_archive_url(url)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback serving ``tmp_path``; ``/moved.mar`` redirects."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def do_GET(self) -> None:
            if self.path == "/moved.mar":
                self.send_response(302)
                self.send_header("Location", "/served.mar")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_verified_returns_the_archive_only_when_its_sha256_matches(
    file_server: str, tmp_path: Path
) -> None:
    body = b"PK archive bytes"
    (tmp_path / "served.mar").write_bytes(body)
    (tmp_path / "got").mkdir()
    good = hashlib.sha256(body).hexdigest()
    path = download_verified(f"{file_server}/served.mar", good, tmp_path / "got")
    assert path.read_bytes() == body and path.name == "served.mar"

    with pytest.raises(ArchiveRefused, match=f"sha256 {good}, not the packaged {'0' * 64}"):
        download_verified(f"{file_server}/served.mar", "0" * 64, tmp_path / "got")
    with pytest.raises(ArchiveRefused, match="HTTP 302"):
        download_verified(f"{file_server}/moved.mar", good, tmp_path / "got")
    with pytest.raises(ArchiveRefused, match="HTTP 404"):
        download_verified(f"{file_server}/missing.mar", good, tmp_path / "got")
    with pytest.raises(ArchiveRefused, match="64 hex digits"):
        download_verified(f"{file_server}/served.mar", "abc", tmp_path / "got")


def test_server_address_defaults_inference_to_the_port_below_management() -> None:
    assert ServerAddress.parse("http://ts:8081").inference_url == "http://ts:8080"
    pair = ServerAddress.parse("https://ts:9443, https://ts:8443")
    assert (pair.management_url, pair.inference_url) == ("https://ts:9443", "https://ts:8443")
    for bad in ("ts:8081", ",http://ts:8080", "ftp://ts:8081"):
        with pytest.raises(FleetError):
            ServerAddress.parse(bad)


def test_fleet_yaml_lists_servers_canary_first(tmp_path: Path) -> None:
    servers = load_fleet(
        "servers:\n"
        "  - management_url: http://a:8081\n"
        "  - {management_url: http://b:9081, inference_url: http://b:9080, key_file: /k.json}\n"
    )
    assert [s.management_url for s in servers] == ["http://a:8081", "http://b:9081"]
    assert servers[0].inference_url == "http://a:8080"
    assert servers[1].key_file == Path("/k.json")
    for bad in ("servers: []", "- http://a:8081", "servers:\n  - {management_url: x, token: t}"):
        with pytest.raises(FleetError):
            load_fleet(bad)


def test_fleet_keys_one_for_all_one_per_server_or_a_key_file(tmp_path: Path) -> None:
    a, b = ServerAddress.parse("http://a:8081"), ServerAddress.parse("http://b:8081")
    env = {"TORCHSERVE_MANAGEMENT_TOKEN": "m", "TORCHSERVE_INFERENCE_TOKEN": "i"}
    assert fleet_keys([a, b], env) == [("m", "i"), ("m", "i")]
    env = {"TORCHSERVE_MANAGEMENT_TOKEN": "ma,mb", "TORCHSERVE_INFERENCE_TOKEN": "ia, ib"}
    assert fleet_keys([a, b], env) == [("ma", "ia"), ("mb", "ib")]
    assert fleet_keys([a], {}) == [(None, None)]

    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps({"management": {"key": "fm"}, "inference": {"key": "fi"}}))
    with_file = ServerAddress(b.management_url, b.inference_url, key_file)
    assert fleet_keys([a, with_file], {"TORCHSERVE_MANAGEMENT_TOKEN": "m"}) == [
        ("m", None),
        ("fm", "fi"),
    ]


def test_a_wrong_number_of_keys_is_refused_without_echoing_them() -> None:
    servers = [ServerAddress.parse(f"http://s{i}:8081") for i in range(3)]
    with pytest.raises(FleetError) as caught:
        fleet_keys(servers, {"TORCHSERVE_MANAGEMENT_TOKEN": "secret-one,secret-two"})
    assert "2 comma-separated keys for 3 server(s)" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_signal_guard_raises_the_first_signal_and_only_records_the_next() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        with pytest.raises(Interrupted) as caught:
            signal.raise_signal(signal.SIGTERM)
        assert caught.value.signo == signal.SIGTERM
        # The rollback that follows cannot be cut short by a second Ctrl-C.
        signal.raise_signal(signal.SIGINT)
        assert guard.received == signal.SIGTERM and not guard.armed
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_disarmed_signal_guard_only_records() -> None:
    with SignalGuard() as guard:
        guard.disarm()
        signal.raise_signal(signal.SIGINT)
        assert guard.received == signal.SIGINT


@pytest.mark.parametrize(
    ("status", "signal_name", "code"),
    [
        ("deployed", None, 0),
        ("rolled back", None, 1),
        ("rollback incomplete", None, 1),
        ("refused", None, 2),
        ("rolled back", "SIGTERM", 143),
        ("rolled back", "SIGINT", 130),
    ],
)
def test_exit_codes(status: str, signal_name: str | None, code: int) -> None:
    report = DeployReport("m", "2", "http://a/m-2.mar", None, status, signal=signal_name)
    assert report.exit_code == code


def _refusal(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(list(args)) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["status"] == "refused" and report["servers"] == []
    return report


def test_cli_refuses_a_file_url_before_asking_any_server(capsys) -> None:
    report = _refusal(
        capsys,
        "--archive-url", "file:///tmp/intent_classifier-2.mar", "--sha256", "0" * 64,
        "--server", "http://127.0.0.1:9,http://127.0.0.1:9",
    )  # fmt: skip
    assert "http(s)" in report["error"]


def test_cli_refuses_mismatched_keys_without_printing_them(capsys, monkeypatch) -> None:
    monkeypatch.setenv("TORCHSERVE_MANAGEMENT_TOKEN", "key-one,key-two,key-three")
    report = _refusal(
        capsys,
        "--archive-url", "http://127.0.0.1:9/m-2.mar", "--sha256", "0" * 64,
        "--server", "http://127.0.0.1:9", "--server", "http://127.0.0.1:10",
    )  # fmt: skip
    assert "3 comma-separated keys for 2 server(s)" in report["error"]
    assert "key-one" not in json.dumps(report)


def test_cli_takes_no_key_on_its_command_line() -> None:
    with pytest.raises(SystemExit):
        main(["--archive-url", "http://a/m.mar", "--sha256", "0" * 64, "--token", "k"])


def test_deploy_tool_runs_without_the_training_stack() -> None:
    # The deploy job installs only the client extra: no torch, no MLflow, no Java.
    heavy = "{'torch', 'mlflow', 'transformers', 'ts', 'model_archiver', 'numpy', 'pandas'}"
    probe = f"import sys, ops.deploy; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
