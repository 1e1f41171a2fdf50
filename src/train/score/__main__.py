"""``python -m train.score INPUT OUTPUT [--archive MAR]``: score a file of prompts.

Exit status 0 when every row was written (rows that could not be scored carry an ``error``),
2 with one line on stderr for a file or archive that cannot be used as given.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contract import MODEL_NAME
from contract.cli import run
from train.package import MODEL_STORE

DEFAULT_ARCHIVE = MODEL_STORE / f"{MODEL_NAME}.mar"  # what `python -m train.package` builds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from train.score.pipeline import DEFAULT_BATCH_SIZE

    p = argparse.ArgumentParser(
        prog="python -m train.score",
        description="Score a CSV, JSONL or Parquet file with a `text` column using the packaged "
        "model; RAY_ADDRESS runs it on a Ray cluster.",
    )
    p.add_argument("input", type=Path, help="prompts: .csv, .jsonl or .parquet with `text`")
    p.add_argument("output", type=Path, help="where to write; the format follows the suffix")
    p.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE, help="the .mar to score with")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="prompts per pass")
    p.add_argument("--concurrency", type=int, default=None, help="actors (default: CPUs/threads)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per actor")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    for name in ("batch_size", "concurrency", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from train.score.pipeline import score_file
    from train.score.tables import InputFileError

    try:
        summary = score_file(
            args.input,
            args.output,
            args.archive,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            threads=args.threads,
            progress=not args.no_progress,
        )
    except (InputFileError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    print(
        f"scored {summary.rows - summary.errors:,} of {summary.rows:,} rows "
        f"({summary.errors:,} with an error) with model version {summary.model_version or '-'} "
        f"on {summary.actors} actor(s) in {summary.seconds:.1f} s ({rate:,.0f} rows/s): "
        f"{summary.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    run(main)
