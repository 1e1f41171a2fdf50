"""``python -m ops.serve start|stop`` (``make serve`` / ``make serve-stop``): one TorchServe in
the background on the ports of ``conf/serve/config.properties``, serving
``model_store/intent_classifier.mar``. Its state, logs and token key file live in ``.torchserve/``
of the checkout, where the client and the CLIs find the key file without any setting."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from contract import project_root
from contract.cli import run
from contract.keys import STATE_DIR
from ops.server import (
    CONFIG_FILE,
    DEFAULT_MODELS,
    Ports,
    RunningTorchServe,
    TorchServeError,
    read_properties,
    start_torchserve,
)

STATE_FILE = "server.json"


def _start(args: argparse.Namespace) -> int:
    state_file = args.state_dir / STATE_FILE
    if state_file.is_file():
        previous = RunningTorchServe.load_state(state_file)
        if previous.is_running():
            print(
                f"TorchServe is already running at {previous.inference_url} "
                f"(pid {previous.pid}); stop it with `make serve-stop`",
                file=sys.stderr,
            )
            return 1
    ports = Ports.from_properties(read_properties(args.config))
    try:
        server = start_torchserve(
            args.model_store,
            models=args.models,
            workdir=args.state_dir,
            ports=ports,
            ready_timeout=args.timeout,
            config_file=args.config,
        )
    except (TorchServeError, FileNotFoundError) as err:
        print(f"serve: {err}", file=sys.stderr)
        return 1
    server.save_state(state_file)
    key_expr = f"json.load(open('{server.key_file}'))['inference']['key']"
    print(
        f"TorchServe is up: {server.inference_url} (management {server.management_url}, "
        f"metrics {server.metrics_url})\n"
        f"Token key file: {server.key_file}\n"
        f"Logs: {server.workdir / 'logs'}\n"
        "Try:\n"
        f"  curl -s {server.inference_url}/predictions/{server.model_name} \\\n"
        f'    -H "Authorization: Bearer $(python3 -c "import json; print({key_expr})")" \\\n'
        "    -H 'Content-Type: application/json' \\\n"
        f"    -d {shlex.quote(json.dumps({'text': 'Translate good morning into French'}))}\n"
        "Stop it with `make serve-stop`."
    )
    return 0


def _stop(args: argparse.Namespace) -> int:
    state_file = args.state_dir / STATE_FILE
    if not state_file.is_file():
        print(f"no TorchServe state in {args.state_dir}: nothing to stop")
        return 0
    server = RunningTorchServe.load_state(state_file)
    if not server.is_running():
        # Gone already, or its pid now belongs to another process: signal nothing.
        server.stop()
        state_file.unlink()
        print(f"TorchServe (pid {server.pid}) was not running; removed its stale state")
        return 0
    try:
        server.stop()
    except TorchServeError as err:
        print(f"serve-stop: {err}", file=sys.stderr)
        return 1
    state_file.unlink()
    print(f"TorchServe (pid {server.pid}) stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.serve", description=__doc__)
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--model-store", type=Path, default=project_root() / "model_store")
    parser.add_argument("--models", default=DEFAULT_MODELS, help='"name=file.mar ..."')
    parser.add_argument("--config", type=Path, default=CONFIG_FILE, help="config.properties")
    parser.add_argument(
        "--state-dir", type=Path, default=project_root() / STATE_DIR, help="workdir and state"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for ready")
    args = parser.parse_args(argv)
    return _start(args) if args.command == "start" else _stop(args)


if __name__ == "__main__":
    run(main)
