"""Start and stop a TorchServe on loopback.

``start_torchserve`` runs it in its own session and returns once every model answers; ``make
serve`` (``python -m ops.serve``) keeps one running in the background. In code::

    server = start_torchserve("model_store")        # free ports, temp workdir
    httpx.post(f"{server.inference_url}/predictions/intent_classifier",
               json={"text": "hi"}, headers=server.auth_headers())
    server.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from contract import MODEL_NAME, conf_dir, read_key
from contract.keys import KEY_FILE_NAME
from ops.processes import (
    group_members,
    is_torchserve,
    signal_group,
    start_ticks,
    wait_group_exit,
)
from ops.properties import Ports, read_properties

CONFIG_FILE = conf_dir() / "serve" / "config.properties"
LOG_CONFIG_FILE = conf_dir() / "serve" / "log4j2.xml"
DEFAULT_MODELS = f"{MODEL_NAME}={MODEL_NAME}.mar"
PROBE_TEXT = "Is the intent classifier up?"


class TorchServeError(RuntimeError):
    """TorchServe could not be started or stopped; the message says where its log is."""


@dataclass
class RunningTorchServe:
    """A TorchServe process group started by :func:`start_torchserve`."""

    host: str
    inference_port: int
    management_port: int
    metrics_port: int
    model_name: str
    workdir: Path
    key_file: Path | None
    inference_token: str | None
    management_token: str | None
    pid: int  # process-group leader: the TorchServe launcher
    started: int | None = None  # the leader's start time (ops.processes.start_ticks)

    @property
    def inference_url(self) -> str:
        return f"http://{self.host}:{self.inference_port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}"

    def auth_headers(self, api: str = "inference") -> dict[str, str]:
        """``{"Authorization": "Bearer <key>"}`` for the inference or management API."""
        token = self.inference_token if api == "inference" else self.management_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def is_running(self) -> bool:
        return bool(self.processes())

    def processes(self) -> list[int]:
        """The live processes of this server's group; empty when the group is gone or its id now
        belongs to something else (the pid was reused after a crash or a reboot)."""
        members = group_members(self.pid)
        if not members:
            return []
        leader_is_ours = self.started is not None and start_ticks(self.pid) == self.started
        if leader_is_ours or any(is_torchserve(pid) for pid in members):
            return members
        return []

    def stop(self, timeout: float = 30.0) -> None:
        """Stop TorchServe and its workers; returns once none of its processes is left.

        Signals nothing when the recorded group is no longer this TorchServe.
        """
        if not self.processes():
            if self.key_file is not None:
                self.key_file.unlink(missing_ok=True)
            return
        signal_group(self.pid, signal.SIGTERM)
        if not wait_group_exit(self.pid, timeout):
            signal_group(self.pid, signal.SIGKILL)
            if not wait_group_exit(self.pid, 10.0):
                raise TorchServeError(f"TorchServe processes {group_members(self.pid)} survive")
        if self.key_file is not None:
            self.key_file.unlink(missing_ok=True)

    def save_state(self, path: Path) -> None:
        """Record where the server is (no tokens) so a later ``stop`` can find it."""
        state = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        del state["inference_token"], state["management_token"]
        path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load_state(cls, path: Path) -> RunningTorchServe:
        state = json.loads(path.read_text(encoding="utf-8"))
        key_file = Path(state["key_file"]) if state["key_file"] else None
        tokens: tuple[str | None, str | None] = (None, None)
        if key_file is not None:
            # A server that died leaves no usable key file; stopping it needs none.
            with contextlib.suppress(ValueError):
                tokens = _read_tokens(key_file)
        return cls(
            **{**state, "workdir": Path(state["workdir"]), "key_file": key_file},
            inference_token=tokens[0],
            management_token=tokens[1],
        )


def start_torchserve(
    model_store: str | os.PathLike[str],
    *,
    models: str = DEFAULT_MODELS,
    workdir: str | os.PathLike[str] | None = None,
    ports: Ports | None = None,
    token_auth: bool = True,
    enable_model_api: bool = False,
    config_overrides: dict[str, str] | None = None,
    ready_timeout: float = 180.0,
    config_file: str | os.PathLike[str] = CONFIG_FILE,
    log_config: str | os.PathLike[str] | None = LOG_CONFIG_FILE,
) -> RunningTorchServe:
    """Start TorchServe on 127.0.0.1 serving ``models`` ("name=file.mar ...") from
    ``model_store``; returns once every model answers a prediction.

    ``ports`` None picks free ones. Logs, the key file and TorchServe's temp files go to
    ``workdir`` (a new temp dir when None); ``log_config`` is a log4j2.xml (None: TorchServe's
    own). Raises :class:`TorchServeError` with the log's tail
    if the server exits or no model answers within ``ready_timeout`` seconds.
    """
    model_store = Path(model_store).resolve()
    model_names = [entry.split("=", 1)[0] for entry in models.split()]
    for entry in models.split():
        archive = model_store / entry.split("=", 1)[-1]
        if archive.suffix == ".mar" and not archive.is_file():
            raise FileNotFoundError(f"no {archive}: build it with `python -m train.package`")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="torchserve-")).resolve()
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    ports = ports or Ports.free()
    props = read_properties(Path(config_file))
    props.update(
        {
            "inference_address": f"http://127.0.0.1:{ports.inference}",
            "management_address": f"http://127.0.0.1:{ports.management}",
            "metrics_address": f"http://127.0.0.1:{ports.metrics}",
            "grpc_inference_port": str(ports.grpc_inference),
            "grpc_management_port": str(ports.grpc_management),
            "disable_token_authorization": str(not token_auth).lower(),
            "enable_model_api": str(enable_model_api).lower(),
            **(config_overrides or {}),
        }
    )
    server_config = workdir / "config.properties"
    server_config.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
    command = [
        sys.executable, "-m", "ts.model_server", "--start", "--foreground", "--ncs",
        "--model-store", str(model_store), "--ts-config", str(server_config),
        "--models", *models.split(),
    ]  # fmt: skip
    if log_config is not None:
        command += ["--log-config", str(Path(log_config).resolve())]
    if not token_auth:
        command.append("--disable-token-auth")
    if enable_model_api:
        command.append("--enable-model-api")
    env = {k: v for k, v in os.environ.items() if k != "TS_CONFIG_FILE"}
    # TorchServe keeps its pid file and worker sockets in the temp dir and its logs in the cwd;
    # private ones let several servers run side by side.
    # Models load from the archive only, and the worker's tokenizer stays on the one core its
    # torch_threads setting gives it, unless the caller's environment says otherwise.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(
        TEMP=str(workdir / "tmp"),
        TMPDIR=str(workdir / "tmp"),
        LOG_LOCATION=str(workdir / "logs"),
        METRICS_LOCATION=str(workdir / "logs"),
    )
    with (workdir / "torchserve.out").open("ab") as out:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    server = RunningTorchServe(
        host="127.0.0.1",
        inference_port=ports.inference,
        management_port=ports.management,
        metrics_port=ports.metrics,
        model_name=model_names[0],
        workdir=workdir,
        key_file=workdir / KEY_FILE_NAME if token_auth else None,
        inference_token=None,
        management_token=None,
        pid=process.pid,
        started=start_ticks(process.pid),
    )
    try:
        _wait_until_ready(server, process, model_names, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_ready(
    server: RunningTorchServe, process: subprocess.Popen, model_names: list[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    waiting_for = list(model_names)
    with httpx.Client(timeout=10.0) as client:
        while waiting_for:
            if server.key_file is not None and server.inference_token is None:
                # Not written yet, or caught half-written: try again next round.
                with contextlib.suppress(ValueError):
                    server.inference_token, server.management_token = _read_tokens(server.key_file)
            if server.key_file is None or server.inference_token is not None:
                name = waiting_for[0]
                try:
                    response = client.post(
                        f"{server.inference_url}/predictions/{name}",
                        json={"text": PROBE_TEXT},
                        headers=server.auth_headers(),
                    )
                    if response.status_code == 200:
                        waiting_for.pop(0)
                        continue
                except httpx.TransportError:
                    pass  # not listening yet
            if time.monotonic() > deadline:
                raise TorchServeError(
                    f"{waiting_for} did not answer within {timeout:.0f}s\n{_log_tail(server)}"
                )
            # Waiting on the process doubles as the poll interval and notices an early exit.
            try:
                code = process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            raise TorchServeError(f"TorchServe exited with code {code}\n{_log_tail(server)}")


def _read_tokens(key_file: Path) -> tuple[str, str]:
    return read_key(key_file, "inference"), read_key(key_file, "management")


def _log_tail(server: RunningTorchServe, lines: int = 30) -> str:
    for log in (server.workdir / "logs" / "ts_log.log", server.workdir / "torchserve.out"):
        if log.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            return f"last lines of {log}:\n" + "\n".join(tail)
    return f"no log found in {server.workdir}"
