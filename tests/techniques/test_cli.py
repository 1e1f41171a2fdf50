"""The command line, run as a user runs it: ``python -m techniques ...`` in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from techniques import CONF_DIR_ENV, TechniqueLibrary


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "techniques", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_list_shows_every_technique_with_its_version(library: TechniqueLibrary) -> None:
    done = run("list")
    assert done.returncode == 0, done.stderr
    for tid, technique in library.techniques.items():
        assert f"{tid} {technique.version}" in done.stdout
    assert "tree_of_thoughts 1.0.0  used by: creative_writing" in done.stdout


def test_enhance_with_intent_prints_the_prompt(library: TechniqueLibrary) -> None:
    text = "If 3 pens cost $4.50, what do {n} pens cost?"
    done = run("enhance", text, "--intent", "reasoning")
    assert done.returncode == 0, done.stderr
    assert done.stdout == library.enhance(text, "reasoning").text + "\n"


def test_enhance_reads_stdin_verbatim_and_prints_json(library: TechniqueLibrary) -> None:
    text = "Translate:\n    {{ greeting }}, $name!\n\n"
    done = run(
        "enhance", "-", "--intent", "translation", "--confidence", "0.7", "--json", stdin=text
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    expected = library.enhance(text, "translation", 0.7)
    assert shown["text"] == expected.text
    assert shown["techniques"] == [{"id": t.id, "version": t.version} for t in expected.techniques]
    assert (shown["complexity"], shown["intent"], shown["confidence"]) == (
        "simple",
        "translation",
        0.7,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("enhance", "   ", "--intent", "reasoning"), 'error: "text" has no visible character'),
        (("enhance", "hi", "--intent", "maths"), "error: unknown intent 'maths'"),
        (("enhance", "hi", "--intent", "reasoning", "--confidence", "2"), "between 0 and 1"),
        (("enhance", "hi", "--confidence", "0.5"), "--confidence goes with --intent"),
    ],
)
def test_bad_input_exits_2_with_a_message(args: tuple[str, ...], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_no_server_fails_with_a_clear_message() -> None:
    env = {
        "USE_TORCHSERVE": "true",
        "TORCHSERVE_HOST": "127.0.0.1",
        "TORCHSERVE_PORT": str(free_port()),
        "TORCHSERVE_MAX_RETRIES": "0",
        "TORCHSERVE_TIMEOUT": "10",
    }
    done = run("enhance", "Why is the sky blue?", env=env)
    assert done.returncode == 1
    assert "error: could not classify the request through TorchServe" in done.stderr
    assert "make serve" in done.stderr and "--intent" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_broken_configuration_is_reported(conf_copy: Path) -> None:
    (conf_copy / "techniques" / "catalogue" / "react.yaml").write_text("id: [", encoding="utf-8")
    done = run("list", env={CONF_DIR_ENV: str(conf_copy)})
    assert done.returncode == 1
    assert "error: configuration problem:" in done.stderr and "react.yaml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_enhance_asks_the_running_server(torchserve, library: TechniqueLibrary) -> None:
    env = {
        "USE_TORCHSERVE": "true",
        "TORCHSERVE_HOST": "127.0.0.1",
        "TORCHSERVE_PORT": str(torchserve.inference_port),
        "TORCHSERVE_MANAGEMENT_PORT": str(torchserve.management_port),
        "TORCHSERVE_MODEL_NAME": torchserve.model_name,
    }
    if torchserve.key_file is not None:
        env["TORCHSERVE_KEY_FILE"] = str(torchserve.key_file)
    text = "Write a haiku about {rain} on $Monday"
    done = run("enhance", text, "--json", env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["intent"] in library.intents
    assert f"intent: {shown['intent']}" in done.stderr
    assert shown["text"] == library.enhance(text, shown["intent"], shown["confidence"]).text
