"""The serving image's entry, run here as the container runs it: start-torchserve.sh serves the
packed tiny model with token auth on, ping.py gets Healthy with the key TorchServe wrote to the
working directory, and SIGTERM stops TorchServe and its workers and deletes the key file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "deploy" / "image"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="TorchServe needs Java 17"),
]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_script_serves_with_token_auth_and_stops_on_sigterm(
    tiny_archive: Path, tmp_path: Path
) -> None:
    etc, work, temp = tmp_path / "etc", tmp_path / "work", tmp_path / "tmp"
    for folder in (etc, work, temp):
        folder.mkdir()
    for name in ("config.properties", "log4j2.xml"):
        shutil.copy(ROOT / "conf" / "serve" / name, etc / name)
    # The cluster's override, on free ports: other servers may be running on this machine.
    inference, management, metrics, grpc, grpc_management = free_ports(5)
    (etc / "override.properties").write_text(
        f"inference_address=http://0.0.0.0:{inference}\n"
        f"management_address=http://0.0.0.0:{management}\n"
        f"metrics_address=http://0.0.0.0:{metrics}\n"
        f"grpc_inference_port={grpc}\ngrpc_management_port={grpc_management}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TS_CONFIG_DIR": str(etc),
        "MODEL_STORE": str(tiny_archive.parent),
        "TEMP": str(temp),
        "TMPDIR": str(temp),
        "LOG_LOCATION": str(work / "logs"),
        "METRICS_LOCATION": str(work / "logs"),
    }
    ping = [
        sys.executable, str(IMAGE / "ping.py"), "--key-file", str(work / "key_file.json"),
        "--inference-url", f"http://127.0.0.1:{inference}",
        "--management-url", f"http://127.0.0.1:{management}",
    ]  # fmt: skip
    with (tmp_path / "out.log").open("wb") as log:
        server = subprocess.Popen(
            [str(IMAGE / "start-torchserve.sh")], cwd=work, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # TorchServe gives no readiness event; poll as the kubelet's startup probe does.
        deadline = time.monotonic() + 180
        while subprocess.run(ping, capture_output=True, check=False).returncode != 0:
            assert server.poll() is None, (tmp_path / "out.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "TorchServe did not become healthy in 180 s"
            time.sleep(1)

        key_file = work / "key_file.json"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = json.loads(key_file.read_text())["inference"]["key"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{inference}/predictions/intent_classifier",
            data=json.dumps({"text": "Translate good morning into French"}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert "intent" in json.loads(response.read())
        assert subprocess.run([*ping, "--renew"], check=False).returncode == 0

        frontend = int((temp / ".model_server.pid").read_text())
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=90)
        assert not alive(frontend), "the Java frontend outlived the container's main process"
        assert not key_file.exists()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
