"""Command line for the technique library.

``python -m techniques enhance "TEXT" [--intent X [--confidence C]] [--json]`` prints the
enhanced prompt. Without ``--intent`` the request is first classified by the running TorchServe
through ``serving_client`` (configured from the environment, as ``TorchServeClient.from_env``
documents). ``TEXT`` of ``-`` reads the request from standard input.

``python -m techniques list`` prints the catalogue: id, version, the intents whose rules use each
technique, and its description.

Exit status: 0 done, 1 the server could not classify or the configuration is broken, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from contract import check_text
from contract.cli import run
from techniques.errors import TechniqueConfigError
from techniques.library import EnhancedPrompt, TechniqueLibrary, default_library


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        library = default_library()
    except TechniqueConfigError as exc:
        return _fail(f"configuration problem: {exc}", 1)
    if args.command == "list":
        print(_catalogue_listing(library))
        return 0
    return _enhance(args, library)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m techniques", description="Rewrite a prompt with prompt techniques."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    enhance = commands.add_parser("enhance", help="print the enhanced prompt for TEXT")
    enhance.add_argument("text", metavar="TEXT", help='the request; "-" reads standard input')
    enhance.add_argument(
        "--intent", help="use this intent instead of asking the running TorchServe"
    )
    enhance.add_argument(
        "--confidence", type=float, help="with --intent: the confidence to assume (default 1.0)"
    )
    enhance.add_argument(
        "--json", action="store_true", help="print the prompt and what was applied as JSON"
    )
    commands.add_parser("list", help="list the techniques and the intents that use them")
    return parser


def _enhance(args: argparse.Namespace, library: TechniqueLibrary) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if args.intent is None and args.confidence is not None:
        return _fail("--confidence goes with --intent; the server reports its own confidence", 2)
    try:
        check_text(text)
    except (TypeError, ValueError) as exc:
        return _fail(str(exc), 2)
    if args.intent is None:
        try:
            intent, confidence, low_confidence = asyncio.run(_classify(text))
        except Exception as exc:  # any transport or server failure ends the same way for a user
            return _fail(
                f"could not classify the request through TorchServe ({type(exc).__name__}: "
                f"{exc}). Start the server (make serve) or pass --intent "
                f"(one of: {', '.join(library.intents)}).",
                1,
            )
        flag = ", low confidence: generic plan" if low_confidence else ""
        print(f"intent: {intent} (confidence {confidence:.3f}{flag})", file=sys.stderr)
    else:
        intent = args.intent
        confidence = 1.0 if args.confidence is None else args.confidence
        low_confidence = None  # the rules' confidence_threshold decides
    try:
        result = library.enhance(text, intent, confidence, low_confidence=low_confidence)
    except (TypeError, ValueError) as exc:
        return _fail(str(exc), 2 if args.intent is not None else 1)
    print(json.dumps(_as_json(result), ensure_ascii=False, indent=2) if args.json else result.text)
    return 0


async def _classify(text: str) -> tuple[str, float, bool]:
    # Imported here so that `list` and `enhance --intent` work without the serving stack.
    from serving_client import TorchServeClient

    async with TorchServeClient.from_env() as client:
        prediction = await client.classify(text)
    return prediction.intent, float(prediction.confidence), prediction.low_confidence


def _as_json(result: EnhancedPrompt) -> dict[str, Any]:
    return {
        "text": result.text,
        "techniques": [{"id": t.id, "version": t.version} for t in result.techniques],
        "complexity": result.complexity,
        "intent": result.intent,
        "confidence": result.confidence,
        "examples": list(result.examples),
    }


def _catalogue_listing(library: TechniqueLibrary) -> str:
    users: dict[str, list[str]] = {tid: [] for tid in library.techniques}
    for intent in library.intents:
        for candidate in library.rules.intents[intent].techniques:
            if intent not in users[candidate.id]:
                users[candidate.id].append(intent)
    for candidate in library.rules.low_confidence.techniques:
        users[candidate.id].append("(low confidence)")
    blocks = []
    for tid, technique in library.techniques.items():
        head = f"{tid} {technique.version}  used by: {', '.join(users[tid]) or 'no rule'}"
        body = textwrap.fill(
            technique.description, width=96, initial_indent="    ", subsequent_indent="    "
        )
        blocks.append(f"{head}\n{body}")
    return "\n".join(blocks)


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    run(main)
