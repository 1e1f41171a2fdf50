"""``python -m ops.deploy``: roll a new model archive onto a running TorchServe.

Registers the archive as a new version of the model beside the serving one, scales its workers,
sends smoke predictions to the new version's own endpoint, and only then makes it the default.
On any failure the new version is unregistered and the old default keeps serving, untouched.

    python -m ops.deploy --mar model_store/intent_classifier.mar \\
        --management-url http://127.0.0.1:8081 --inference-url http://127.0.0.1:8080

Tokens come from ``TORCHSERVE_MANAGEMENT_TOKEN`` / ``TORCHSERVE_INFERENCE_TOKEN`` (or ``--token``,
``--inference-token``, or ``--key-file`` for TorchServe's key_file.json). The server must run with
its model API enabled (``enable_model_api=true``). A local ``--mar`` is registered through a
``file://`` URL, so the server must be able to read this machine's files (same host or a shared
disk); otherwise pass an ``http(s)://`` URL the server can download, with ``--version``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml

import contract
from contract import MODEL_NAME, conf_dir, read_key
from contract.cli import run

log = logging.getLogger("ops.deploy")
SMOKE_PROMPTS = conf_dir() / "serve" / "smoke.yaml"


class DeployError(RuntimeError):
    """A deploy step failed; the message says which and why."""


@dataclass
class DeployReport:
    model_name: str
    version: str
    previous_default: str | None
    deployed: bool = False
    rolled_back: bool = False
    steps: list[str] = field(default_factory=list)
    error: str | None = None


def archive_version(mar: str) -> str:
    """The ``modelVersion`` in a local archive's MAR-INF/MANIFEST.json."""
    with zipfile.ZipFile(mar) as archive:
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
    return str(manifest["model"]["modelVersion"])


def default_inference_url(management_url: str) -> str:
    """TorchServe's default layout puts inference one port below management (8080/8081)."""
    parts = urlsplit(management_url)
    port = (parts.port or 8081) - 1
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def check_prediction(payload: object, expected: str | None) -> str | None:
    """What is wrong with one smoke answer, or None."""
    try:
        contract.check_prediction(payload)
    except ValueError as err:
        return f"not a prediction: {err}"
    if expected is not None and payload["intent"] != expected:
        return f"predicted {payload['intent']!r} where {expected!r} was expected"
    return None


class Deployer:
    """One deploy against one server; see the module docstring."""

    def __init__(
        self,
        management_url: str,
        inference_url: str,
        *,
        management_token: str | None = None,
        inference_token: str | None = None,
        model_name: str = MODEL_NAME,
        workers: int = 1,
        timeout: float = 300.0,
    ) -> None:
        self.model_name, self.workers = model_name, workers
        self.management = httpx.Client(
            base_url=management_url, timeout=timeout, headers=_bearer(management_token)
        )
        self.inference = httpx.Client(
            base_url=inference_url, timeout=60.0, headers=_bearer(inference_token)
        )

    def close(self) -> None:
        self.management.close()
        self.inference.close()

    def current_default(self) -> str | None:
        response = self.management.get(f"/models/{self.model_name}")
        if response.status_code == 404:
            return None
        _raise_for(response, "describe the serving model")
        return str(response.json()[0]["modelVersion"])

    def registered_versions(self) -> set[str]:
        response = self.management.get(f"/models/{self.model_name}/all")
        if response.status_code == 404:
            return set()
        _raise_for(response, "list the registered versions")
        return {str(m["modelVersion"]) for m in response.json()}

    def deploy(self, mar: str, smoke: list[dict]) -> DeployReport:
        """Deploy a local archive; its version comes from its manifest."""
        version = archive_version(mar)
        # TorchServe copies a registered archive into its model store under the URL's file name
        # and refuses a name it already holds, so each version travels under its own name.
        with tempfile.TemporaryDirectory(prefix="deploy-") as staging:
            named = Path(staging) / f"{self.model_name}-{version}.mar"
            shutil.copyfile(mar, named)
            return self.deploy_version(named.as_uri(), version, smoke)

    def deploy_version(self, url: str, version: str, smoke: list[dict]) -> DeployReport:
        report = DeployReport(self.model_name, version, self.current_default())
        if version in self.registered_versions():
            report.error = (
                f"version {version} of {self.model_name} is already registered; package the new "
                "model under a new version"
            )
            return report
        try:
            response = self.management.post(
                "/models",
                params={
                    "url": url,
                    "model_name": self.model_name,
                    "initial_workers": self.workers,
                    "synchronous": "true",
                },
            )
            _raise_for(response, f"register version {version}")
            report.steps.append(f"registered {self.model_name} {version}")

            response = self.management.put(
                f"/models/{self.model_name}/{version}",
                params={
                    "min_worker": self.workers,
                    "max_worker": self.workers,
                    "synchronous": "true",
                },
            )
            _raise_for(response, f"scale version {version} to {self.workers} worker(s)")
            report.steps.append(f"scaled to {self.workers} worker(s)")

            for item in smoke:
                response = self.inference.post(
                    f"/predictions/{self.model_name}/{version}", json={"text": item["text"]}
                )
                _raise_for(response, f"smoke prediction on version {version}")
                problem = check_prediction(response.json(), item.get("intent"))
                if problem:
                    raise DeployError(f"smoke check failed on {item['text'][:50]!r}: {problem}")
            report.steps.append(f"{len(smoke)} smoke prediction(s) passed")

            response = self.management.put(f"/models/{self.model_name}/{version}/set-default")
            _raise_for(response, f"make version {version} the default")
            report.steps.append(f"version {version} is now the default")
            report.deployed = True
        except (DeployError, httpx.HTTPError) as err:
            report.error = str(err)
            log.error("deploy of %s %s failed: %s", self.model_name, version, err)
            self._roll_back(report)
        return report

    def _roll_back(self, report: DeployReport) -> None:
        """Make sure the failed version is not left registered; the old default never changes.

        A failed registration may still leave the version behind (workers that never started),
        so the registry is asked rather than trusting how far the deploy got.
        """
        version = report.version
        try:
            if version not in self.registered_versions():
                report.rolled_back = True
                report.steps.append(
                    f"version {version} not registered; {report.previous_default} keeps serving"
                )
                return
            if self.current_default() == version:
                report.steps.append(f"version {version} is the default; left in place")
                return
            response = self.management.delete(f"/models/{self.model_name}/{version}")
            report.rolled_back = response.status_code < 300
            report.steps.append(
                f"unregistered version {version}; {report.previous_default} keeps serving"
                if report.rolled_back
                else f"could not unregister version {version}: {response.text[:200]}"
            )
        except httpx.HTTPError as err:
            report.steps.append(f"could not check or unregister version {version}: {err}")


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _raise_for(response: httpx.Response, action: str) -> None:
    if response.status_code >= 300:
        try:
            detail = response.json().get("message", response.text)
        except ValueError:
            detail = response.text
        raise DeployError(f"could not {action}: HTTP {response.status_code} {detail[:300]}")


def _tokens(args: argparse.Namespace) -> tuple[str | None, str | None]:
    management = args.token or os.environ.get("TORCHSERVE_MANAGEMENT_TOKEN")
    inference = args.inference_token or os.environ.get("TORCHSERVE_INFERENCE_TOKEN")
    if args.key_file:
        management = management or read_key(args.key_file, "management")
        inference = inference or read_key(args.key_file, "inference")
    return management, inference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mar", required=True, help="archive path, or http(s) URL with --version")
    parser.add_argument("--version", help="the archive's version (read from a local archive)")
    parser.add_argument("--management-url", required=True, help="e.g. http://127.0.0.1:8081")
    parser.add_argument("--inference-url", help="default: the management port minus one")
    parser.add_argument("--token", help="management key (prefer the env variable)")
    parser.add_argument(
        "--inference-token", help="inference key (prefer TORCHSERVE_INFERENCE_TOKEN)"
    )
    parser.add_argument("--key-file", help="TorchServe's key_file.json, for both keys")
    parser.add_argument("--model-name", default=MODEL_NAME)
    parser.add_argument("--workers", type=int, default=1, help="workers of the new version")
    parser.add_argument("--smoke-prompts", type=Path, default=SMOKE_PROMPTS)
    parser.add_argument(
        "--smoke-check",
        choices=["intents", "schema"],
        default="intents",
        help="'intents': each smoke prompt must get its expected intent; 'schema': only the shape",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    management_token, inference_token = _tokens(args)
    smoke = yaml.safe_load(args.smoke_prompts.read_text(encoding="utf-8"))["prompts"]
    if args.smoke_check == "schema":
        smoke = [{"text": item["text"]} for item in smoke]
    deployer = Deployer(
        args.management_url,
        args.inference_url or default_inference_url(args.management_url),
        management_token=management_token,
        inference_token=inference_token,
        model_name=args.model_name,
        workers=args.workers,
    )
    try:
        if urlsplit(args.mar).scheme in {"http", "https"}:
            if not args.version:
                raise DeployError("a remote --mar URL needs --version (the archive's modelVersion)")
            report = deployer.deploy_version(args.mar, args.version, smoke)
        else:
            report = deployer.deploy(args.mar, smoke)
    except (DeployError, httpx.HTTPError, OSError, KeyError, zipfile.BadZipFile) as err:
        print(f"deploy failed before registering anything: {err}", file=sys.stderr)
        return 2
    finally:
        deployer.close()
    print(json.dumps(asdict(report), indent=2))
    return 0 if report.deployed else 1


if __name__ == "__main__":
    run(main)
