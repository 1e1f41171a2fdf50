"""The files batch scoring reads: CSV, JSONL and Parquet tables with a ``text`` column.

Opening a file checks what can be checked before a cluster starts (the suffix, the file, its
columns, every row). The Ray Dataset it then gives keeps every value as written: CSV columns stay
text (``"007"`` stays ``"007"``), Parquet keeps its schema, and JSONL records are parsed here
(``train.score.jsonl``) rather than by pandas (which turns ``"0123"`` into ``123``) and kept whole
for the writer.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from contract import InvalidText, check_text

TEXT = "text"
# JSONL rows carry their source record, and the contract's message for a text that is not a
# string (an Arrow column cannot mix strings with numbers).
RECORD, TEXT_ERROR = "__record", "__text_error"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# A block goes to one actor at a time: a few per actor balance the load; big files get blocks
# of about this size.
BLOCK_BYTES = 4 * 2**20
# Reading reserves no core: the actors hold every core, and a read waiting for one of them
# would wait forever (parsing is light next to the model; the OS shares the cores).
READ = {"num_cpus": 0}


class InputFileError(ValueError):
    """A file that cannot be scored or written as asked; the message says what to fix."""


def table_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the suffix; InputFileError for any other."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InputFileError(
            f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(FORMATS)}"
        ) from None


@dataclass(frozen=True)
class InputTable:
    """A checked input file: its format, its rows and, for CSV and Parquet, its schema."""

    path: Path
    format: str
    rows: int
    schema: pa.Schema | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> InputTable:
        """Check that ``path`` is a readable CSV, JSONL or Parquet file with a ``text`` column.

        The whole file is parsed once here (Parquet: its footer), so a malformed row fails the
        run before any actor starts, with the parser's own words: Ray's readers report only
        that a file failed. Parsing costs seconds per gigabyte; scoring, hours."""
        path = Path(path)
        fmt = table_format(path)
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
        try:
            schema = _SCHEMA_READERS[fmt](path)
            if schema is not None and TEXT not in schema.names:
                raise InputFileError(f"no {TEXT!r} column; found {schema.names}")
            rows = _ROW_COUNTERS[fmt](path, schema)
        except InputFileError as err:
            raise InputFileError(f"{path}: {err}") from None
        except (OSError, UnicodeDecodeError, ValueError, pa.ArrowException) as err:
            raise InputFileError(f"{path}: cannot be read as {fmt}: {first_line(err)}") from None
        return cls(path, fmt, rows, schema)

    def dataset(self, blocks: int):
        """A Ray Dataset of the file's rows in file order, cut into at least ``blocks`` blocks."""
        import ray.data

        blocks = max(blocks, math.ceil(self.path.stat().st_size / BLOCK_BYTES))
        if self.format == "csv":
            return ray.data.read_csv(
                str(self.path), override_num_blocks=blocks, **READ, **_csv_options(self.schema)
            )
        if self.format == "parquet":
            return ray.data.read_parquet(str(self.path), override_num_blocks=blocks, **READ)
        from train.score.jsonl import JsonlRecords

        return ray.data.read_datasource(
            JsonlRecords(str(self.path)), override_num_blocks=blocks, **READ
        )


def _csv_schema(path: Path) -> pa.Schema:
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise InputFileError(f"the file is empty; expected a header row naming {TEXT!r}")
    if len(set(header)) != len(header):
        raise InputFileError(f"the header names a column twice: {header}")
    return pa.schema([(name, pa.string()) for name in header])


def _csv_options(schema: pa.Schema) -> dict:
    from pyarrow import csv as pacsv

    return {
        # Prompts hold pasted code and logs: a quoted field may span lines.
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(schema.names, pa.string())
        ),
    }


def _csv_rows(path: Path, schema: pa.Schema) -> int:
    from pyarrow import csv as pacsv

    reader = pacsv.open_csv(path, **_csv_options(schema))
    return sum(batch.num_rows for batch in reader)


def _parquet_rows(path: Path, schema: pa.Schema) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _jsonl_rows(path: Path, schema: None) -> int:
    rows = 0
    with path.open("rb") as f:  # lines end at b"\n" alone, as the reader splits them
        for number, raw in enumerate(f, 1):
            line = raw.decode("utf-8")
            if line.strip():
                parse_record(line, number)
                rows += 1
    return rows


def _parquet_schema(path: Path) -> pa.Schema:
    import pyarrow.parquet as pq

    return pq.read_schema(path)


def _jsonl_schema(path: Path) -> None:
    # Records may differ in their keys: there is no schema, only a first record to find.
    with path.open("rb") as f:
        if not any(line.strip() for line in f):
            raise InputFileError("the file holds no JSON record")


_SCHEMA_READERS = {"csv": _csv_schema, "parquet": _parquet_schema, "jsonl": _jsonl_schema}
_ROW_COUNTERS = {"csv": _csv_rows, "parquet": _parquet_rows, "jsonl": _jsonl_rows}


def parse_record(line: str, number: int | None = None) -> dict:
    """One JSONL line as a dict; InputFileError for anything else."""
    where = f"line {number}" if number else "a line"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        shown = line.strip()[:60]
        raise InputFileError(f"{where} is not valid JSON ({err.msg}): {shown!r}") from None
    if not isinstance(record, dict):
        raise InputFileError(f"{where} is a JSON {type(record).__name__}, not an object")
    return record


def parse_lines(lines: list[str]) -> pa.Table:
    """JSONL lines as rows (blank ones skipped): the record as written, its ``text`` when that
    is a string, else the contract's message for it."""
    records, texts, problems = [], [], []
    for line in lines:
        if not line.strip():
            continue
        record = parse_record(line)
        value = record.get(TEXT)
        records.append(line)
        texts.append(value if isinstance(value, str) else None)
        if isinstance(value, str):
            problems.append(None)
        else:
            problems.append(_problem(value) if TEXT in record else f'no "{TEXT}" field')
    return pa.table(
        {RECORD: records, TEXT: texts, TEXT_ERROR: problems},
        schema=pa.schema([(RECORD, pa.string()), (TEXT, pa.string()), (TEXT_ERROR, pa.string())]),
    )


def _problem(value: object) -> str:
    try:
        check_text(value)
    except InvalidText as err:
        return str(err)
    raise AssertionError("only a non-string reaches here")  # pragma: no cover


def first_line(err: BaseException) -> str:
    """The first line of an error's message (Arrow's and Ray's run on for pages)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
