"""Writing scored rows: one CSV, JSONL or Parquet file, streamed batch by batch in input order.

The file appears under its name only once complete (it is written beside it and renamed), so a
failed run never leaves half an output that looks whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from train.score.tables import RECORD, TEXT_ERROR, InputFileError, first_line, table_format

# What scoring adds to every row, in this order; an input column of the same name is replaced.
ADDED = pa.schema(
    [
        ("intent", pa.string()),
        ("confidence", pa.float64()),  # calibrated, as served
        ("low_confidence", pa.bool_()),  # under the calibration's threshold
        ("model_version", pa.string()),
        ("error", pa.string()),
    ]
)


class TableWriter:
    """Append scored Arrow batches to ``path``; the format comes from its suffix.

    >>> with TableWriter(Path("scored.parquet"), schema=None) as out:
    ...     for batch in batches:
    ...         out.write(batch)
    """

    def __init__(self, path: Path, schema: pa.Schema | None) -> None:
        self.path, self.format = path, table_format(path)
        # The input's columns, so that an input without rows still gives a header.
        self.input_schema = schema
        self.rows = 0
        self._schema: pa.Schema | None = None
        self._writer = None
        self._sink = None
        self._staging: Path | None = None

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        self._staging = Path(name)
        if self.format == "jsonl":
            self._sink = self._staging.open("w", encoding="utf-8")
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None and self._writer is None and self.format != "jsonl":
                self._open(_with_added(self.input_schema or pa.schema([])))
        finally:
            for closing in (self._writer, self._sink):
                if closing is not None:
                    closing.close()
        if kind is None:
            os.replace(self._staging, self.path)
        else:
            with contextlib.suppress(OSError):
                self._staging.unlink()

    def write(self, batch: pa.Table) -> None:
        """Append one scored batch (input columns, then the columns scoring adds)."""
        if batch.num_rows == 0:
            return
        if self.format == "jsonl":
            self._write_jsonl(batch)
        else:
            table = _from_records(batch) if RECORD in batch.column_names else batch
            table = table.drop_columns([c for c in (TEXT_ERROR,) if c in table.column_names])
            self._write_table(self._conform(table))
        self.rows += batch.num_rows

    def _write_jsonl(self, batch: pa.Table) -> None:
        if RECORD in batch.column_names:
            added = batch.select(ADDED.names).to_pylist()
            for record, extra in zip(batch.column(RECORD).to_pylist(), added, strict=True):
                row = json.loads(record)
                row.update(extra)
                self._sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        for row in batch.drop_columns(
            [c for c in (TEXT_ERROR,) if c in batch.column_names]
        ).to_pylist():
            self._sink.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    def _conform(self, table: pa.Table) -> pa.Table:
        """The batch with the first batch's columns and types, in its order."""
        if self._schema is None:
            inputs = [f for f in table.schema if f.name not in ADDED.names]
            self._open(pa.schema([*inputs, *ADDED]))
        extra = [c for c in table.column_names if c not in self._schema.names]
        if extra:
            raise InputFileError(
                f"records after row {self.rows} have key(s) {extra} that earlier ones lack; "
                "write .jsonl to keep records whose keys differ"
            )
        columns = [
            table.column(f.name) if f.name in table.column_names else pa.nulls(len(table), f.type)
            for f in self._schema
        ]
        try:
            return pa.Table.from_arrays(columns, names=self._schema.names).cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise InputFileError(
                f"a column changes type after row {self.rows} ({first_line(err)}); "
                "write .jsonl instead"
            ) from None

    def _open(self, schema: pa.Schema) -> None:
        self._schema = schema
        if self.format == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._staging, schema)
        else:
            from pyarrow import csv as pacsv

            self._writer = pacsv.CSVWriter(self._staging, _csv_schema(schema))

    def _write_table(self, table: pa.Table) -> None:
        if self.format == "csv":
            table = _csv_ready(table)
        self._writer.write_table(table)


def _with_added(schema: pa.Schema) -> pa.Schema:
    inputs = [f for f in schema if f.name not in ADDED.names]
    return pa.schema([*inputs, *ADDED])


def _from_records(batch: pa.Table) -> pa.Table:
    """JSONL records as columns (first-seen key order); a key whose values mix JSON types
    becomes a text column (strings as they are, other values as JSON)."""
    records = [json.loads(r) for r in batch.column(RECORD).to_pylist()]
    names = list(dict.fromkeys(k for r in records for k in r if k not in ADDED.names))
    columns = {}
    for name in names:
        values = [r.get(name) for r in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([_text(v) for v in values], type=pa.string())
        if pa.types.is_null(columns[name].type):
            columns[name] = columns[name].cast(pa.string())
    for field in ADDED:
        columns[field.name] = batch.column(field.name)
    return pa.table(columns)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _text(value: Any) -> str | None:
    """A value of a mixed column as text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else _json(value)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if _needs_json(f.type) else f for f in schema])


def _csv_ready(table: pa.Table) -> pa.Table:
    """Nested values (lists, structs) as JSON text: CSV has no other way to hold them."""
    for i, field in enumerate(table.schema):
        if _needs_json(field.type):
            text = pa.array([_json(v) for v in table.column(i).to_pylist()], type=pa.string())
            table = table.set_column(i, field.name, text)
    return table


def _needs_json(kind: pa.DataType) -> bool:
    return pa.types.is_nested(kind) or pa.types.is_dictionary(kind)
