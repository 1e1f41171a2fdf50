"""The processes of a server started in its own session: find them, signal them, wait."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

# What a TorchServe process runs: the Python launcher, the Java frontend, a model worker.
TORCHSERVE_MARKERS = ("ts.model_server", "org.pytorch.serve", "model_service_worker")


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (None if it is gone). A pid reused by
    another process has another start time."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 22 of stat, counted after the parenthesised command (which may hold spaces).
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_torchserve(pid: int) -> bool:
    """True when ``pid`` runs a TorchServe launcher, frontend or worker."""
    try:
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return any(marker.encode() in command for marker in TORCHSERVE_MARKERS)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
    reap(pgid)


def reap(pid: int) -> None:
    """Collect the launcher's exit status if this process started it, so no zombie lingers."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_group_exit(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        reap(pgid)
        time.sleep(0.1)  # no event tells when another process's children have exited
    return True
