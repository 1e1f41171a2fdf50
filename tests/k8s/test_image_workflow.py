""".github/workflows/image.yml: builds both images and checks compose.yaml when what they are
made of changes, with read-only permissions and every action pinned to a commit.
(tests/workflows runs actionlint over it with the other workflows.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "image.yml"
PINNED = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def test_runs_on_changes_to_the_images_or_compose_only() -> None:
    triggers = load()["on"]
    assert triggers["push"]["branches"] == ["main"]
    for event in ("push", "pull_request"):
        paths = triggers[event]["paths"]
        assert {"Dockerfile", "compose.yaml", "deploy/**"} <= set(paths), event


def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it() -> None:
    lines = [line for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert PINNED.match(line), line


def test_builds_both_targets_and_checks_compose_with_read_only_permissions() -> None:
    workflow = load()
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        assert isinstance(job.get("timeout-minutes"), int), name
    assert jobs["build"]["strategy"]["matrix"]["target"] == ["serving", "api"]
    (build,) = [s for s in jobs["build"]["steps"] if "build-push-action" in s.get("uses", "")]
    assert build["with"]["target"] == "${{ matrix.target }}" and build["with"]["push"] is False
    assert "docker compose config -q" in [s.get("run") for s in jobs["compose"]["steps"]]
