"""``python -m ops.deploy`` against real TorchServes (token auth on, model API on, conf/serve's
allowed_urls, which admit no file:// URL) fed from a real MLflow artifact server. Each test runs
the command in a subprocess, as the workflow and an operator do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from contract import MODEL_NAME, project_root, sha256_file
from ops.server import RunningTorchServe
from serving_client import TorchServeClient, TorchServeError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
WORKFLOW = project_root() / ".github" / "workflows" / "deploy.yml"
# The tiny model's intents are arbitrary, so the deploys check only the answers' shape.
SCHEMA_ONLY = ["--smoke-check", "schema"]


def deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ops.deploy", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or clean_env(),
        check=False,
    )


def clean_env() -> dict[str, str]:
    """This process's environment without any TorchServe key a developer may have exported."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TORCHSERVE_")}


def fleet_args(*servers: RunningTorchServe) -> list[str]:
    args = []
    for server in servers:
        args += ["--server", f"{server.management_url},{server.inference_url}"]
    for server in servers:
        args += ["--key-file", str(server.key_file)]
    return args


def versions(server: RunningTorchServe) -> dict[str, str]:
    """Registered versions of the model and the URL each came from."""
    response = httpx.get(
        f"{server.management_url}/models/{MODEL_NAME}/all",
        headers=server.auth_headers("management"),
        timeout=30,
    )
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return {m["modelVersion"]: m["modelUrl"] for m in response.json()}


def default(server: RunningTorchServe) -> str | None:
    response = httpx.get(
        f"{server.management_url}/models/{MODEL_NAME}",
        headers=server.auth_headers("management"),
        timeout=30,
    )
    return None if response.status_code == 404 else response.json()[0]["modelVersion"]


def report_of(result: subprocess.CompletedProcess) -> dict:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def smoke_file(tmp_path: Path, prompts: list[dict]) -> Path:
    path = tmp_path / f"smoke-{len(prompts)}.yaml"
    path.write_text(yaml.safe_dump({"prompts": prompts}), encoding="utf-8")
    return path


def serving_version(server: RunningTorchServe) -> str:
    async def ask() -> str:
        async with TorchServeClient(
            port=server.inference_port, token_file=server.key_file, health_check_interval=0
        ) as client:
            return (await client.classify("what is the capital of Peru?")).model_version

    return asyncio.run(ask())


def workflow_deploy_step() -> tuple[str, dict[str, str], dict[str, str]]:
    """(run script, step env, job env) of deploy.yml's step that runs ops.deploy."""
    job = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["deploy"]
    step = next(s for s in job["steps"] if "ops.deploy" in s.get("run", ""))
    return step["run"], step.get("env", {}), job.get("env", {})


def test_workflow_command_rolls_two_servers_while_clients_see_no_failure(
    start_server, mlflow_server, v2_archive, tmp_path
) -> None:
    servers = [start_server(), start_server()]
    runner_temp = tmp_path / "runner"
    archive_dir = runner_temp / "archive"  # where the deploy job downloads the package job's files
    archive_dir.mkdir(parents=True)
    url, sha256 = _publish_with_cli(mlflow_server.url, v2_archive, archive_dir)

    script, step_env, job_env = workflow_deploy_step()
    fleet = {
        "servers": [
            {"management_url": s.management_url, "inference_url": s.inference_url} for s in servers
        ]
    }
    values = {
        "TORCHSERVE_FLEET": yaml.safe_dump(fleet),
        # Each TorchServe has its own keys: one per server, in fleet order.
        "TORCHSERVE_MANAGEMENT_TOKEN": ",".join(s.management_token for s in servers),
        "TORCHSERVE_INFERENCE_TOKEN": ",".join(s.inference_token for s in servers),
    }
    assert set(step_env) == set(values), "the deploy step's env changed; update this test"
    # The tiny model cannot pass conf/serve/smoke.yaml's intents: the command runs as written
    # against a project conf/ whose smoke prompts ask only for well-formed answers.
    assert "--smoke" not in script
    conf = tmp_path / "project" / "conf"
    (conf / "serve").mkdir(parents=True)
    shutil.copy(project_root() / "conf" / "intents.yaml", conf / "intents.yaml")
    shipped = yaml.safe_load((project_root() / "conf/serve/smoke.yaml").read_text("utf-8"))
    schema_only = [{"text": item["text"]} for item in shipped["prompts"]]
    (conf / "serve" / "smoke.yaml").write_text(yaml.safe_dump({"prompts": schema_only}), "utf-8")
    env = {
        **clean_env(),
        **job_env,
        **values,
        "RUNNER_TEMP": str(runner_temp),
        "PROJECT_ROOT": str(conf.parent),
    }

    answers: dict[str, list[str]] = {}
    failures: list[str] = []

    async def scenario() -> tuple[int, str, str]:
        done = asyncio.Event()

        async def classify_until_done(client: TorchServeClient, name: str) -> None:
            answers[name] = []
            i = 0
            while not done.is_set():
                try:
                    prediction = await client.classify(f"{name} asks question number {i}")
                    answers[name].append(prediction.model_version)
                except TorchServeError as err:
                    failures.append(f"{name}: {err!r}")
                i += 1

        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    TorchServeClient(
                        port=s.inference_port,
                        token_file=s.key_file,
                        health_check_interval=0,
                        max_retries=0,
                    )
                )
                for s in servers
            ]
            tasks = [
                asyncio.create_task(classify_until_done(client, f"server{i}-client{j}"))
                for i, client in enumerate(clients)
                for j in range(2)
            ]
            while len(answers) < len(tasks) or not all(answers.values()):
                await asyncio.sleep(0.05)
            process = await asyncio.create_subprocess_exec(
                "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script,
                cwd=project_root(), env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), timeout=300)
            # A few more answers from every client, now from the new default.
            marks = {name: len(seen) for name, seen in answers.items()}
            while any(len(answers[name]) < marks[name] + 5 for name in answers):
                await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*tasks)
        return process.returncode, out.decode(), err.decode()

    code, out, err = asyncio.run(scenario())
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "deployed" and report["sha256"] == sha256
    assert [s["role"] for s in report["servers"]] == ["canary", "fleet"]
    assert failures == []
    for name, seen in answers.items():
        # Old answers, then new ones, never back: the switch is one step per server.
        assert seen[0] == "1.0" and seen[-1] == "2.0" and seen == sorted(seen), name
    for server in servers:
        assert default(server) == "2.0"
        assert versions(server)["2.0"] == url


def _publish_with_cli(tracking_uri: str, archive: Path, out: Path) -> tuple[str, str]:
    """What deploy.yml's package job does after train.package: log the archive to a run, then
    ``python -m ops.publish`` into intent_classifier.url beside intent_classifier.json."""
    import mlflow

    from ops.artifacts import archive_version
    from train.package import ARCHIVE_ARTIFACT

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("deploy-tests").experiment_id
    run_id = client.create_run(experiment).info.run_id
    client.log_artifact(run_id, str(archive), ARCHIVE_ARTIFACT)
    (out / archive.name).write_bytes(archive.read_bytes())
    packaged = {
        "model_name": MODEL_NAME,
        "version": archive_version(archive),
        "run_id": run_id,
        "archive": archive.name,
        "sha256": sha256_file(archive),
        "metrics": {},
    }
    (out / f"{MODEL_NAME}.json").write_text(json.dumps(packaged), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ops.publish", "--package-json", str(out / f"{MODEL_NAME}.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env(), "MLFLOW_TRACKING_URI": tracking_uri},
        check=True,
    )
    url = result.stdout.strip()
    (out / f"{MODEL_NAME}.url").write_text(url + "\n", encoding="utf-8")
    assert url.endswith(f"/{run_id}/artifacts/{ARCHIVE_ARTIFACT}/{MODEL_NAME}-2.0.mar"), url
    return url, packaged["sha256"]


def test_sha256_mismatch_registers_nothing(start_server, publish, v2_archive, tiny_archive):
    server = start_server()
    published = publish(v2_archive)
    result = deploy(
        "--archive-url", published.url, "--sha256", sha256_file(tiny_archive),
        *fleet_args(server), *SCHEMA_ONLY,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    report = report_of(result)
    assert report["status"] == "refused" and "sha256" in report["error"]
    assert versions(server) == {"1.0": f"{MODEL_NAME}.mar"}


def test_smoke_answer_that_is_not_json_rolls_back(start_server, publish, garbage_archive):
    server = start_server()
    published = publish(garbage_archive)
    result = deploy(
        "--archive-url", published.url, "--package-json", str(published.package_json),
        *fleet_args(server), *SCHEMA_ONLY,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = report_of(result)
    assert report["status"] == "rolled back"
    assert "not JSON" in report["error"] and "this is not JSON" in report["error"]
    assert versions(server).keys() == {"1.0"}
    assert serving_version(server) == "1.0"


def _deploy_in_background(server: RunningTorchServe, published, tmp_path: Path) -> subprocess.Popen:
    """Start a deploy whose smoke phase lasts long enough to be cut short after registration."""
    slow_smoke = smoke_file(tmp_path, [{"text": f"prompt number {i}"} for i in range(400)])
    return subprocess.Popen(
        [
            sys.executable, "-m", "ops.deploy",
            "--archive-url", published.url, "--package-json", str(published.package_json),
            *fleet_args(server), "--smoke-prompts", str(slow_smoke),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip


def _wait_until_registered(
    server: RunningTorchServe, process: subprocess.Popen, *, ready: bool
) -> None:
    """Poll the management API until version 2.0 is listed (``ready``: and has a ready worker,
    so its registration has answered and the deploy is in its smoke phase)."""
    deadline = time.monotonic() + 120
    while True:
        response = httpx.get(
            f"{server.management_url}/models/{MODEL_NAME}/2.0",
            headers=server.auth_headers("management"),
            timeout=30,
        )
        if response.status_code == 200:
            workers = response.json()[0].get("workers", [])
            if not ready or any(w.get("status") == "READY" for w in workers):
                return
        if process.poll() is not None:
            pytest.fail(f"the deploy ended before registering:\n{process.communicate()}")
        assert time.monotonic() < deadline, "version 2.0 was never registered"
        time.sleep(0.05)  # the management API is the only witness of the registration


def test_sigterm_after_registration_rolls_back(start_server, publish, v2_archive, tmp_path):
    server = start_server()
    published = publish(v2_archive)
    process = _deploy_in_background(server, published, tmp_path)
    _wait_until_registered(server, process, ready=True)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err, err
    report = json.loads(out)
    assert report["signal"] == "SIGTERM" and report["status"] == "rolled back"
    assert versions(server).keys() == {"1.0"}
    assert serving_version(server) == "1.0"


def test_stray_version_of_a_killed_deploy_is_cleaned_by_the_next(
    start_server, publish, v2_archive, tmp_path
):
    server = start_server()
    published = publish(v2_archive)
    process = _deploy_in_background(server, published, tmp_path)
    _wait_until_registered(server, process, ready=False)
    process.kill()  # SIGKILL: no rollback can run
    process.communicate(timeout=60)
    assert versions(server).keys() == {"1.0", "2.0"} and default(server) == "1.0"

    result = deploy(
        "--archive-url", published.url, "--package-json", str(published.package_json),
        *fleet_args(server), *SCHEMA_ONLY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = report_of(result)["servers"][0]["steps"]
    assert steps[0].startswith("unregistered stray version 2.0"), steps
    assert default(server) == "2.0"


def test_failed_first_deploy_leaves_no_model(start_server, publish, v2_archive, tmp_path):
    server = start_server()
    httpx.delete(
        f"{server.management_url}/models/{MODEL_NAME}/1.0",
        headers=server.auth_headers("management"),
        timeout=60,
    ).raise_for_status()
    assert versions(server) == {}
    published = publish(v2_archive)
    # One prompt, two expected intents: a deterministic model fails one of them.
    text = "Translate 'good morning' into French."
    impossible = smoke_file(
        tmp_path, [{"text": text, "intent": "translation"}, {"text": text, "intent": "reasoning"}]
    )
    result = deploy(
        "--archive-url", published.url, "--package-json", str(published.package_json),
        *fleet_args(server), "--smoke-prompts", str(impossible),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = report_of(result)
    assert report["status"] == "rolled back" and "smoke check failed" in report["error"]
    assert report["servers"][0]["previous_default"] is None
    assert report["servers"][0]["default"] is None
    assert versions(server) == {}


def test_canary_failure_changes_no_server(start_server, publish, v2_archive, tmp_path):
    canary, other = start_server(), start_server()
    published = publish(v2_archive)
    text = "Translate 'good morning' into French."
    impossible = smoke_file(
        tmp_path, [{"text": text, "intent": "translation"}, {"text": text, "intent": "reasoning"}]
    )
    result = deploy(
        "--archive-url", published.url, "--package-json", str(published.package_json),
        *fleet_args(canary, other), "--smoke-prompts", str(impossible),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = report_of(result)
    assert report["servers"][0]["error"] and report["servers"][1]["steps"] == []
    for server in (canary, other):
        assert versions(server).keys() == {"1.0"} and default(server) == "1.0"


def test_failure_on_the_second_server_rolls_both_back(start_server, publish, v2_archive):
    canary = start_server()
    # A server whose allowed_urls name another artifact store refuses the download: a real
    # misconfiguration, found only after the canary has switched.
    other = start_server(config_overrides={"allowed_urls": r"https://artifacts[.]example/.*"})
    published = publish(v2_archive)
    result = deploy(
        "--archive-url", published.url, "--package-json", str(published.package_json),
        *fleet_args(canary, other), *SCHEMA_ONLY,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = report_of(result)
    canary_report, other_report = report["servers"]
    assert "version 2.0 is the default" in canary_report["steps"]
    assert "rolled back: 1.0 is the default again" in canary_report["steps"]
    assert "does not match any allowed URL" in other_report["error"]
    for server in (canary, other):
        assert versions(server).keys() == {"1.0"} and default(server) == "1.0"
    assert serving_version(canary) == "1.0"


def test_redeploying_the_serving_version_is_refused(start_server, publish, tiny_archive):
    server = start_server()
    published = publish(tiny_archive)  # version 1.0, which the server already serves
    result = deploy(
        "--archive-url", published.url, "--package-json", str(published.package_json),
        *fleet_args(server), *SCHEMA_ONLY,
    )  # fmt: skip
    assert result.returncode == 2
    assert "already the default" in report_of(result)["error"]
    assert versions(server) == {"1.0": f"{MODEL_NAME}.mar"}


def test_shipped_allowed_urls_refuse_files_and_other_hosts(start_server, tiny_archive):
    server = start_server()  # conf/serve/config.properties as shipped, model API on
    for url in (
        tiny_archive.as_uri(),  # the deploying machine's (here: the server's) own disk
        "http://example.com/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/m-2.mar",
        "http://127.0.0.1:1/elsewhere/intent_classifier-2.0.mar",
    ):
        response = httpx.post(
            f"{server.management_url}/models",
            params={"url": url, "model_name": MODEL_NAME, "synchronous": "true"},
            headers=server.auth_headers("management"),
            timeout=60,
        )
        assert 400 <= response.status_code < 500, (url, response.text)
        assert "does not match any allowed URL" in response.text, url
    assert versions(server) == {"1.0": f"{MODEL_NAME}.mar"}
