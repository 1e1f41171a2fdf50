"""Every command-line entry point ends quietly when its reader goes away (``… | head``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = [
    ["techniques", "list"],
    ["techniques", "enhance", "plan a 3-day trip to Lisbon", "--intent", "task_planning"],
    ["train.registry", "--help"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly(command: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the command writes anything
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
