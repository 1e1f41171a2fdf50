"""``python -m api.background start|stop`` (``make api`` / ``make api-stop``): the API in the
background, its state and log in ``.api/`` of the checkout.

``stop`` signals only the process ``start`` launched: the recorded pid must still run
``-m api`` and have the recorded start time, else the state is stale (the process died and its
pid may now be someone else's) and nothing is signalled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.settings import ApiSettings
from contract import project_root
from contract.cli import run
from ops.processes import start_ticks

STATE_FILE = "api.json"
LOG_FILE = "api.log"
COMMAND = [sys.executable, "-m", "api"]


def is_our_api(pid: int, started: int | None) -> bool:
    """True when ``pid`` runs (not a zombie), started at ``started`` and runs ``python -m api``."""
    if started is None or not _running(pid, started):
        return False
    try:
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"-m" in command and b"api" in command


def _running(pid: int, started: int) -> bool:
    """``pid`` is the process that started at ``started`` and has not exited (a zombie has)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and start_ticks(pid) == started


def start(state_dir: Path, timeout: float) -> int:
    state_file = state_dir / STATE_FILE
    if state_file.is_file():
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if is_our_api(state["pid"], state["started"]):
            print(f"the API is already running at {state['url']} (pid {state['pid']}); "
                  "stop it with `make api-stop`", file=sys.stderr)  # fmt: skip
            return 1
    try:
        settings = ApiSettings.from_env()  # the same check the server makes, before forking
    except ValueError as exc:
        print(f"api: {exc}", file=sys.stderr)
        return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / ".gitignore").write_text("*\n", encoding="utf-8")  # pid and log stay local
    log = state_dir / LOG_FILE
    with log.open("ab") as out:
        process = subprocess.Popen(
            COMMAND, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=project_root(),
        )  # fmt: skip
    url = f"http://{settings.host}:{settings.port}"
    state = {"pid": process.pid, "started": start_ticks(process.pid), "url": url, "log": str(log)}
    state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    if not _wait_until_live(process, url, timeout):
        _terminate(process.pid)
        state_file.unlink(missing_ok=True)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        print(f"api: the API did not come up within {timeout:.0f} s; last lines of {log}:\n{tail}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(
        f"The intent API is up: {url} (docs {url}/docs, pid {process.pid})\n"
        f"Log: {log}\n"
        "Try:\n"
        '  curl -s -H "Authorization: Bearer ${INTENT_API_KEYS%%,*}" \\\n'
        "    -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"text": "Write a haiku about the sea"}}\' {url}/v1/classify\n'
        "Stop it with `make api-stop`."
    )
    return 0


def stop(state_dir: Path, timeout: float) -> int:
    state_file = state_dir / STATE_FILE
    if not state_file.is_file():
        print(f"no API state in {state_dir}: nothing to stop")
        return 0
    state = json.loads(state_file.read_text(encoding="utf-8"))
    pid = state["pid"]
    if not is_our_api(pid, state.get("started")):
        state_file.unlink()
        print(f"the API (pid {pid}) was not running; removed its stale state")
        return 0
    if not _terminate(pid, timeout):
        print(f"api-stop: pid {pid} survived SIGTERM and SIGKILL", file=sys.stderr)
        return 1
    state_file.unlink()
    print(f"the API (pid {pid}) stopped")
    return 0


def _wait_until_live(process: subprocess.Popen, url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url + "/health/live").status_code == 200:
                    return True
            except httpx.TransportError:
                pass  # not listening yet
            try:
                process.wait(timeout=0.25)  # doubles as the poll interval; notices an early exit
                return False
            except subprocess.TimeoutExpired:
                continue
    return False


def _terminate(pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM (uvicorn shuts down gracefully and closes the client), SIGKILL if it lingers;
    True once the process has exited."""
    started = start_ticks(pid)
    if started is None:
        return True
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not _running(pid, started):
                return True
            time.sleep(0.1)  # no event tells when another process has exited
    return not _running(pid, started)


def _reap(pid: int) -> None:
    """Collect the exit status when this process is the parent, so no zombie lingers."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.background", description=__doc__)
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--state-dir", type=Path, default=project_root() / ".api")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start(args.state_dir, args.timeout)
    return stop(args.state_dir, args.timeout)


if __name__ == "__main__":
    run(main)
