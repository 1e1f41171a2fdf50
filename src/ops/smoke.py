"""``python -m ops.smoke``: start TorchServe on a freshly built archive, classify one
unmistakable prompt per intent through the client, check each answer, stop the server, and write
``reports/smoke.json``. Exits non-zero when any prompt fails, so the DVC stage fails too."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import yaml

from contract import MODEL_NAME, check_prediction, cli, conf_dir, project_root
from ops.server import start_torchserve
from serving_client.client import TorchServeClient
from serving_client.errors import TorchServeError
from serving_client.results import IntentPrediction

PROMPTS = conf_dir() / "serve" / "smoke.yaml"


def check(prediction: IntentPrediction, expected: str) -> list[str]:
    """What is wrong with one answer (empty when it is right and well formed)."""
    problems = []
    try:
        check_prediction(prediction.to_dict())
    except ValueError as err:
        problems.append(str(err))
    if prediction.intent != expected:
        problems.append(f"intent {prediction.intent!r}, expected {expected!r}")
    return problems


async def classify_all(client: TorchServeClient, prompts: list[dict]) -> list[dict]:
    results = []
    for item in prompts:
        try:
            prediction = await client.classify(item["text"])
        except TorchServeError as err:
            results.append({**item, "passed": False, "problems": [f"request failed: {err}"]})
            continue
        problems = check(prediction, item["intent"])
        results.append(
            {
                **item,
                "predicted": prediction.intent,
                "confidence": round(prediction.confidence, 4),
                "model_version": prediction.model_version,
                "latency_ms": round(prediction.latency_ms, 2),
                "passed": not problems,
                "problems": problems,
            }
        )
    return results


def run(mar: Path, prompts_file: Path) -> dict:
    """Serve ``mar`` on free loopback ports, classify the prompts, stop; return the report."""
    prompts = yaml.safe_load(prompts_file.read_text(encoding="utf-8"))["prompts"]
    started = time.perf_counter()
    server = start_torchserve(mar.parent, models=f"{MODEL_NAME}={mar.name}")
    try:
        startup_s = time.perf_counter() - started

        async def go() -> list[dict]:
            async with TorchServeClient(
                port=server.inference_port,
                management_port=server.management_port,
                token_file=server.key_file,
                health_check_interval=0,
            ) as client:
                return await classify_all(client, prompts)

        results = asyncio.run(go())
    finally:
        server.stop()
    return {
        "archive": str(mar),
        "passed": all(r["passed"] for r in results),
        "correct": sum(r.get("predicted") == r["intent"] for r in results),
        "total": len(results),
        "server_startup_s": round(startup_s, 2),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.smoke", description=__doc__)
    parser.add_argument(
        "--mar", type=Path, default=project_root() / "model_store" / f"{MODEL_NAME}.mar"
    )
    parser.add_argument("--prompts", type=Path, default=PROMPTS)
    parser.add_argument("--out", type=Path, default=project_root() / "reports" / "smoke.json")
    args = parser.parse_args(argv)
    if not args.mar.is_file():
        print(f"no archive at {args.mar}: run `python -m train.package` first", file=sys.stderr)
        return 2
    report = run(args.mar, args.prompts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for r in report["results"]:
        mark = "ok  " if r["passed"] else "FAIL"
        print(f"{mark} {r['intent']:<20} {r.get('predicted', '-'):<20} {r['text'][:60]!r}")
        for problem in r["problems"]:
            print(f"       {problem}")
    print(f"smoke: {report['correct']}/{report['total']} correct; report in {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    cli.run(main)
