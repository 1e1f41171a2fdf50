"""``score_file``: read a table with Ray Data, score it on a pool of actors, write it in order.

Local by default: a Ray instance on this machine with one actor per core (quiet, no dashboard),
shut down afterwards. With ``RAY_ADDRESS`` set, the same pipeline runs on that cluster, and the
archive travels to the workers through Ray's object store.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from train.score.tables import InputFileError, InputTable, first_line, table_format
from train.score.writers import TableWriter

DEFAULT_BATCH_SIZE = 64  # prompts per forward pass (see benchmarks/batch_scoring.py)
BLOCKS_PER_ACTOR = 4  # blocks in flight per actor: enough to keep each one busy
# Forward batches per actor call: the rows of one call are sorted by length before they are cut
# into batches, and more rows to sort means batches of closer lengths (less padding).
BATCHES_PER_CALL = 8


@dataclass(frozen=True)
class ScoreSummary:
    """What a run did: rows written, rows with an error, seconds, the file and the model."""

    rows: int
    errors: int
    seconds: float
    output: Path
    model_version: str
    actors: int


def score_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    archive: str | os.PathLike[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int | None = None,
    threads: int = 1,
    progress: bool = True,
) -> ScoreSummary:
    """Score every row of ``input_path`` (CSV, JSONL or Parquet with a ``text`` column) with the
    model in ``archive`` and write ``output_path`` (format from its suffix): every input column
    and row, in input order, plus ``intent``, ``confidence``, ``low_confidence``,
    ``model_version`` and ``error``.

    ``concurrency`` actors (default: one per ``threads`` CPUs of the cluster, one CPU left for
    reading) of ``threads`` torch threads each, ``batch_size`` prompts per forward pass. Joins a
    Ray already started in this process, else starts one (see ``_connect``); sets this process's
    Ray DataContext. Raises InputFileError for a file or archive that cannot be used as asked and
    FileNotFoundError for a missing archive; a row that cannot be scored gets an ``error``.
    """
    from handlers.prediction import extract_archive

    started = time.perf_counter()
    table = InputTable.open(input_path)
    output = Path(output_path)
    table_format(output)
    if output.resolve() == table.path.resolve():
        raise InputFileError(f"{output}: the output would overwrite the input; name another file")
    try:  # fails early on a missing or broken archive; the actors reuse the extraction
        extract_archive(archive)
    except (ValueError, zipfile.BadZipFile) as err:
        raise InputFileError(f"{archive}: not a TorchServe model archive ({err})") from None
    import ray

    own_ray = _connect()
    try:
        # One CPU stays free of actors for the light tasks around them (listing, reading):
        # with every CPU held by an actor, a task that needs one would wait forever.
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = concurrency or max(1, (cpus - 1) // threads)
        rows = errors = 0
        model_version = ""
        with TableWriter(output, table.schema) as out:
            for batch in _scored(table, archive, batch_size, actors, threads, progress):
                out.write(batch)
                rows += batch.num_rows
                errors += batch.num_rows - batch.column("error").null_count
                model_version = model_version or _first(batch.column("model_version"))
            if rows != table.rows:  # never hand over a file that silently lost rows
                raise RuntimeError(f"{table.path}: read {table.rows} rows but scored {rows}")
    except Exception as err:
        problem = _input_problem(err, table)
        if problem is None:
            raise
        raise problem from None
    finally:
        if own_ray:
            ray.shutdown()
    return ScoreSummary(rows, errors, time.perf_counter() - started, output, model_version, actors)


def _scored(
    table: InputTable,
    archive: str | os.PathLike[str],
    batch_size: int,
    actors: int,
    threads: int,
    progress: bool,
) -> Iterator[pa.Table]:
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from train.score.scorer import BatchScorer

    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # rows leave in the order they came
    context.enable_progress_bars = progress
    # A reader's own error (a line that is not JSON) rather than Ray's generic wrapper.
    context.raise_original_map_exception = True
    # Ray's newer Parquet reader makes one block of a one-row-group file: one busy actor.
    context.use_datasource_v2 = False
    # Other machines need not see this one's files: there, the archive travels to the actors.
    source = str(archive) if len(ray.nodes()) == 1 else ray.put(Path(archive).read_bytes())
    scored = table.dataset(blocks=actors * BLOCKS_PER_ACTOR).map_batches(
        BatchScorer,
        fn_constructor_kwargs={"archive": source, "threads": threads, "batch_size": batch_size},
        batch_size=batch_size * BATCHES_PER_CALL,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=actors),
        num_cpus=threads,
    )
    yield from scored.iter_batches(batch_size=None, batch_format="pyarrow")


def _connect() -> bool:
    """Join the cluster ``RAY_ADDRESS`` names, or start a quiet local Ray sized to this
    machine; True when this call started Ray (and so should stop it)."""
    import ray

    if ray.is_initialized():
        return False
    # Ray Data's own INFO lines (plans, log paths, progress as log lines off a terminal); the
    # progress bars on a terminal stay.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(**quiet)
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # One logical CPU over the cores: the actors get one core each, the spare runs the reads.
    ray.init(num_cpus=(cores or 1) + 1, include_dashboard=False, **quiet)
    return True


def _first(column: pa.ChunkedArray) -> str:
    values = pc.drop_null(column)
    return str(values[0]) if len(values) else ""


def _input_problem(err: BaseException, table: InputTable) -> InputFileError | None:
    """The input problem behind an error raised inside Ray (it wraps the original in
    RayTaskError or UserCodeException), as one InputFileError; None for anything else."""
    found: InputFileError | None = None
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException) and cause is not current:
            current = cause
            continue
        if isinstance(current, InputFileError):
            message = str(current)
            prefix = f"{table.path}: "
            found = InputFileError(message if message.startswith(prefix) else prefix + message)
        elif isinstance(current, pa.ArrowInvalid | UnicodeDecodeError):
            found = InputFileError(
                f"{table.path}: cannot be read as {table.format}: {first_line(current)}"
            )
        current = current.__cause__
    return found
