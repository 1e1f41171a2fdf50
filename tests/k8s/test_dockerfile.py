"""The Dockerfile builds from bases pinned by digest, in stages, installs with the project's
constraints, and runs both images as a non-root user; .dockerignore lets only what it copies in."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
START = ROOT / "deploy" / "image" / "start-torchserve.sh"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions by its ``AS`` name, the FROM line first."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            current = [instruction]
            found[instruction[1].split()[-1]] = current
        else:
            current.append(instruction)
    return found


def test_every_base_is_pinned_by_digest_or_is_an_earlier_stage() -> None:
    seen: list[str] = []
    for name, body in stages().items():
        base = body[0][1].split()[0]
        assert base in seen or DIGEST.search(base), f"stage {name}: FROM {base}"
        seen.append(name)
    assert len(seen) >= 4, "builder and runtime stages for each image"


@pytest.mark.parametrize("target", ["serving", "api"])
def test_images_run_as_a_numeric_non_root_user(target: str) -> None:
    users = [args for op, args in stages()[target] if op == "USER"]
    assert users, f"{target} has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, users[-1]


def test_installs_take_versions_from_the_constraints_file() -> None:
    runs = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    copies = [args for op, args in instructions() if op == "COPY"]
    assert any(c.startswith("requirements/constraints.txt ") for c in copies)
    for run in runs:
        if "torch==" in run:
            # torch alone, from the CPU index, at the version the project pins.
            assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in run
        else:
            assert "-c /tmp/constraints.txt" in run, run
    assert any("torchserve==0.12.0 torch-model-archiver==0.12.0" in run for run in runs)


def test_serving_image_runs_torchserve_with_a_health_check_that_authenticates() -> None:
    serving = dict(stages()["serving"])  # the last of each instruction, as Docker takes it
    assert serving["EXPOSE"].split() == ["8080", "8081", "8082"]
    assert "/opt/serving/ping.py" in serving["HEALTHCHECK"]
    assert serving["ENTRYPOINT"] == '["tini", "--"]'
    assert serving["CMD"] == '["/opt/serving/start-torchserve.sh"]'
    assert "openjdk" in serving["ENV"] and "COPY" in serving


def test_start_script_keeps_token_auth_and_runs_in_the_foreground() -> None:
    script = START.read_text(encoding="utf-8")
    assert "--foreground" in script and "--disable-token-auth" not in script
    assert "trap 'torchserve --stop --foreground' TERM" in script
    sh = shutil.which("sh")
    if sh:
        subprocess.run([sh, "-n", str(START)], check=True, timeout=10)


def test_dockerignore_admits_only_what_the_dockerfile_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", "an allow-list: nothing enters the build unless named"
    allowed = [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]
    for op, args in instructions():
        if op == "COPY" and "--from=" not in args:
            sources = [a for a in args.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert any(source == a or source.startswith(a + "/") for a in allowed), source
