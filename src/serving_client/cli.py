"""``python -m serving_client``: classify prompts, check health, describe the model.

```
python -m serving_client classify "Write a limerick about Mondays"
python -m serving_client classify --file prompts.txt > predictions.jsonl   # "-" reads stdin
python -m serving_client health
python -m serving_client info
```

Settings come from the environment (see ``serving_client.settings``). Output is JSON on stdout;
``classify --file`` writes one JSON object per input line, in order, ``{"error": {...}}`` for a line
that failed. Exit status: 0 when everything succeeded, 1 when something failed, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from serving_client.client import BatchResult, TorchServeClient
from serving_client.errors import TorchServeError

# Lines classified per round trip of --file; bounds memory on large files.
FILE_CHUNK_LINES = 256


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(_run(args))
    except (ValueError, OSError) as exc:  # settings that do not validate, an unreadable file
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace) -> int:
    async with TorchServeClient.from_env() as client:
        try:
            if args.command == "classify":
                if args.file is not None:
                    return await _classify_file(client, args.file, sys.stdout)
                if args.text is None:
                    print("error: give a TEXT or --file FILE", file=sys.stderr)
                    return 2
                _print(_as_json(await client.classify(args.text)))
                return 0
            if args.command == "health":
                status = await client.health()
                _print(status.model_dump())
                return 0 if status.healthy else 1
            _print((await client.model_info()).model_dump())
            return 0
        except TorchServeError as error:
            _print(_error_json(error), stream=sys.stderr)
            return 1


async def _classify_file(client: TorchServeClient, path: str, out: TextIO) -> int:
    failures = 0
    with _open_lines(path) as lines:
        for chunk in _chunks(lines, FILE_CHUNK_LINES):
            for result in await client.classify_batch(chunk):
                failures += isinstance(result, TorchServeError)
                out.write(json.dumps(_as_json(result), ensure_ascii=False) + "\n")
            out.flush()
    return 1 if failures else 0


@contextlib.contextmanager
def _open_lines(path: str) -> Iterator[Iterator[str]]:
    """The lines of ``path`` ("-" for stdin) without their line endings."""
    if path == "-":
        yield (line.rstrip("\r\n") for line in sys.stdin)
        return
    with Path(path).open(encoding="utf-8") as stream:
        yield (line.rstrip("\r\n") for line in stream)


def _chunks(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(lines, size)):
        yield chunk


def _as_json(result: BatchResult) -> dict[str, Any]:
    if isinstance(result, TorchServeError):
        return _error_json(result)
    return result.to_dict()


def _error_json(error: TorchServeError) -> dict[str, Any]:
    return {"error": {"type": type(error).__name__, "message": error.message}}


def _print(payload: dict[str, Any], *, stream: TextIO | None = None) -> None:
    print(json.dumps(payload, ensure_ascii=False), file=stream or sys.stdout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving_client",
        description="Call the intent classifier on TorchServe (settings from the environment).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser("classify", help="classify TEXT, or every line of --file")
    classify.add_argument("text", nargs="?", help="the prompt to classify")
    classify.add_argument("--file", help="one prompt per line ('-' for stdin); JSON Lines out")
    commands.add_parser("health", help="ping the server")
    commands.add_parser("info", help="the model's workers and queue (management API)")
    return parser
