"""``python -m ops.deploy``: roll a published model archive onto a fleet of running TorchServes.

    URL=http://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/$RUN/artifacts/torchserve/intent_classifier-7.mar
    python -m ops.deploy --archive-url "$URL" \\
        --package-json model_store/intent_classifier.json \\
        --server http://ts-a:8081,http://ts-a:8080 --server http://ts-b:8081,http://ts-b:8080

The archive is downloaded here once and its sha256 compared with the packaged one
(``--package-json``'s ``sha256``, or ``--sha256``); a mismatch registers nothing. The servers then
download it themselves from the same URL, so it must be http(s), admitted by their
``allowed_urls``, and named for its version (``python -m ops.publish`` prints such a URL).

The first server is the canary; it and then each other server in turn registers the new version
beside the serving one, scales it, answers the smoke prompts on the version's own endpoint, and
only then makes it the default. Any failure anywhere, any exception, SIGINT or SIGTERM rolls every
server back: the previous default is restored where it was switched, then the new version is
unregistered everywhere. A server that had no model before is left with none, not a broken default.

A version registered but not the default, from this same URL, is what a killed deploy leaves; it
is unregistered, then registered afresh. The version registered from another URL, or already the
default, is refused.

Keys (``ops.fleet``): ``TORCHSERVE_MANAGEMENT_TOKEN`` / ``TORCHSERVE_INFERENCE_TOKEN`` (one key, or
one per server, comma-separated), or ``--key-file`` (TorchServe's key_file.json, once per server).

Exit status: 0 deployed everywhere; 1 failed and rolled back (the JSON report on stdout says where
and how); 2 refused before changing anything; 128+N cut short by signal N, after the rollback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import yaml

from contract import MODEL_NAME, conf_dir
from contract.cli import run
from ops.artifacts import archive_version, download_verified
from ops.fleet import ServerAddress, check_fleet, fleet_keys, load_fleet
from ops.model_server import ModelServer
from ops.rollout import DeployReport, Refused, Rollout, describe_error, signal_name
from ops.signals import SignalGuard

log = logging.getLogger("ops.deploy")
SMOKE_PROMPTS = conf_dir() / "serve" / "smoke.yaml"


def deploy(args: argparse.Namespace, guard: SignalGuard) -> DeployReport:
    """Everything ``main`` does but printing: check the inputs, fetch and verify the archive,
    roll it out. Never raises; the report says what happened."""
    report = DeployReport(args.model_name, None, args.archive_url, None)
    servers: list[ModelServer] = []
    try:
        addresses = _addresses(args)
        keys = fleet_keys(addresses)
        report.sha256, expected_version = _expected(args)
        smoke = _smoke_prompts(args)
        with tempfile.TemporaryDirectory(prefix="deploy-") as download:
            archive = download_verified(
                args.archive_url, report.sha256, download, timeout=args.timeout
            )
            report.version = archive_version(archive)
        if expected_version is not None and report.version != expected_version:
            raise Refused(
                f"the archive is version {report.version}, {args.package_json} says "
                f"{expected_version}"
            )
        servers = [
            ModelServer(
                address,
                management_token=management,
                inference_token=inference,
                model_name=args.model_name,
                timeout=args.timeout,
            )
            for address, (management, inference) in zip(addresses, keys, strict=True)
        ]
        rollout = Rollout(
            servers, url=args.archive_url, version=report.version, smoke=smoke, workers=args.workers
        )
        return rollout.run(guard, report)
    except BaseException as err:  # before any change: a refusal, or a signal
        report.error, report.signal = describe_error(err), signal_name(err)
        return report
    finally:
        for server in servers:
            server.close()


def _addresses(args: argparse.Namespace) -> list[ServerAddress]:
    if args.fleet is not None:
        if args.key_file:
            raise Refused("with --fleet, give each server's key file as key_file in the fleet")
        text = sys.stdin.read() if args.fleet == "-" else Path(args.fleet).read_text("utf-8")
        servers = load_fleet(text)
    else:
        key_files = [Path(k) for k in args.key_file or []]
        if key_files and len(key_files) != len(args.server):
            raise Refused(f"{len(key_files)} --key-file for {len(args.server)} --server")
        servers = [
            ServerAddress.parse(spec, key_files[i] if key_files else None)
            for i, spec in enumerate(args.server)
        ]
    check_fleet(servers)
    return servers


def _expected(args: argparse.Namespace) -> tuple[str, str | None]:
    """(sha256, version or None) the downloaded archive must have."""
    if args.sha256:
        return args.sha256, None
    packaged = json.loads(Path(args.package_json).read_text(encoding="utf-8"))
    if packaged.get("model_name", args.model_name) != args.model_name:
        raise Refused(f"{args.package_json} is {packaged['model_name']}, not {args.model_name}")
    return str(packaged["sha256"]), str(packaged["version"])


def _smoke_prompts(args: argparse.Namespace) -> list[dict]:
    prompts = yaml.safe_load(args.smoke_prompts.read_text(encoding="utf-8"))["prompts"]
    if args.smoke_check == "schema":
        return [{"text": item["text"]} for item in prompts]
    return prompts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--archive-url", required=True, help="http(s) URL of the .mar the servers download"
    )
    expected = parser.add_mutually_exclusive_group(required=True)
    expected.add_argument(
        "--package-json", type=Path, help="intent_classifier.json: the sha256 and version"
    )
    expected.add_argument("--sha256", help="the archive's expected sha256")
    fleet = parser.add_mutually_exclusive_group(required=True)
    fleet.add_argument(
        "--server",
        action="append",
        metavar="MANAGEMENT_URL[,INFERENCE_URL]",
        help="a server; repeat for a fleet, canary first",
    )
    fleet.add_argument("--fleet", help="fleet YAML file (see ops.fleet), or - for stdin")
    parser.add_argument(
        "--key-file", action="append", help="TorchServe's key_file.json, once per --server"
    )
    parser.add_argument("--model-name", default=MODEL_NAME)
    parser.add_argument("--workers", type=int, default=1, help="workers of the new version")
    parser.add_argument("--smoke-prompts", type=Path, default=SMOKE_PROMPTS)
    parser.add_argument(
        "--smoke-check",
        choices=["intents", "schema"],
        default="intents",
        help="'intents': each smoke prompt must get its expected intent; 'schema': only the shape",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds for a download or management call"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the steps
    with SignalGuard() as guard:
        report = deploy(args, guard)
        guard.disarm()
        print(json.dumps(asdict(report), indent=2), flush=True)
        if report.error:
            print(f"deploy {report.status}: {report.error}", file=sys.stderr)
    return report.exit_code


if __name__ == "__main__":
    run(main)
