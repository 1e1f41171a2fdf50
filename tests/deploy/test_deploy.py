"""The deploy tool against a real TorchServe with its model API enabled."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ops.deploy import Deployer, main
from ops.server import start_torchserve
from serving_client import TorchServeClient, TorchServeError
from train.package import build_archive

pytestmark = pytest.mark.slow
SMOKE = [{"text": "Translate 'good morning' into French."}, {"text": "hi, how are you?"}]


@pytest.fixture
def server(tiny_archive: Path, tmp_path: Path):
    """A fresh TorchServe serving the tiny model as version 1.0, model API on."""
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(tiny_archive, store / "intent_classifier.mar")
    running = start_torchserve(store, enable_model_api=True, workdir=tmp_path / "ts")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def deployer(server):
    d = Deployer(
        server.management_url,
        server.inference_url,
        management_token=server.management_token,
        inference_token=server.inference_token,
    )
    try:
        yield d
    finally:
        d.close()


def _archive(model_dir: Path, tmp_path: Path, version: str) -> Path:
    return build_archive(model_dir, tmp_path / f"v{version}", version=version)


def test_good_deploy_makes_the_new_version_the_default(deployer, tiny_model_dir, tmp_path) -> None:
    report = deployer.deploy(str(_archive(tiny_model_dir, tmp_path, "2.0")), SMOKE)
    assert report.deployed, report
    assert report.previous_default == "1.0"
    assert deployer.current_default() == "2.0"
    assert deployer.registered_versions() == {"1.0", "2.0"}


def test_broken_archive_is_rolled_back_and_v1_keeps_serving(
    deployer, server, tiny_model_dir, tmp_path
) -> None:
    broken_dir = tmp_path / "broken_model"
    shutil.copytree(tiny_model_dir, broken_dir)
    (broken_dir / "model.safetensors").write_bytes(b"not a safetensors file" * 50)
    report = deployer.deploy(str(_archive(broken_dir, tmp_path, "2.0")), SMOKE)
    assert not report.deployed
    assert report.rolled_back
    assert "2.0" in report.error
    assert deployer.current_default() == "1.0"
    assert deployer.registered_versions() == {"1.0"}

    async def still_serving() -> str:
        async with TorchServeClient(
            port=server.inference_port, token_file=server.key_file, health_check_interval=0
        ) as client:
            return (await client.classify("what is the capital of Peru?")).model_version

    assert asyncio.run(still_serving()) == "1.0"


def test_failed_smoke_check_unregisters_the_new_version(deployer, tiny_model_dir, tmp_path) -> None:
    # The tiny model's answers are arbitrary, so demanding a specific intent for every one of
    # ten labels cannot all hold: the smoke check must fail after a successful registration.
    impossible = [
        {"text": f"prompt {i}", "intent": label}
        for i, label in enumerate(
            [
                "question_answering",
                "creative_writing",
                "code_generation",
                "reasoning",
                "translation",
            ]
        )
    ]
    report = deployer.deploy(str(_archive(tiny_model_dir, tmp_path, "2.0")), impossible)
    assert not report.deployed
    assert "smoke check failed" in report.error
    assert report.rolled_back
    assert any(step.startswith("unregistered version 2.0") for step in report.steps)
    assert deployer.registered_versions() == {"1.0"}
    assert deployer.current_default() == "1.0"


def test_already_registered_version_is_refused_untouched(deployer, tiny_archive) -> None:
    report = deployer.deploy(str(tiny_archive), SMOKE)
    assert not report.deployed and "already registered" in report.error
    assert deployer.registered_versions() == {"1.0"}


def test_clients_see_no_failed_request_during_a_deploy(server, tiny_model_dir, tmp_path) -> None:
    archive = _archive(tiny_model_dir, tmp_path, "2.0")

    async def scenario() -> tuple[Counter, list[str], int]:
        versions: Counter = Counter()
        failures: list[str] = []
        done = asyncio.Event()

        async def classify_until_done(client: TorchServeClient, worker: int) -> None:
            i = 0
            while not done.is_set():
                try:
                    p = await client.classify(f"worker {worker} asks question number {i}")
                    versions[p.model_version] += 1
                except TorchServeError as err:
                    failures.append(repr(err))
                i += 1

        async with TorchServeClient(
            port=server.inference_port,
            token_file=server.key_file,
            health_check_interval=0,
            max_retries=0,
        ) as client:
            workers = [asyncio.create_task(classify_until_done(client, w)) for w in range(4)]
            code = await asyncio.to_thread(
                main,
                [
                    "--mar",
                    str(archive),
                    "--management-url",
                    server.management_url,
                    "--inference-url",
                    server.inference_url,
                    "--key-file",
                    str(server.key_file),
                    "--smoke-check",
                    "schema",
                ],
            )
            # Keep classifying briefly after the switch so requests reach the new default.
            after = sum(versions.values())
            while sum(versions.values()) < after + 20:
                await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*workers)
        return versions, failures, code

    versions, failures, code = asyncio.run(scenario())
    assert code == 0
    assert failures == []
    assert versions["1.0"] > 0 and versions["2.0"] > 0, versions
