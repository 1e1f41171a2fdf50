"""Ray Data reader of JSONL prompt files: records split on ``\\n`` alone.

``ray.data.read_text`` splits on every Unicode line break (``str.splitlines``), and JSON keeps
U+2028, U+0085 and the like raw inside strings, so a valid record could arrive in pieces; pandas'
JSONL reader (``read_json(lines=True)``) turns ``"0123"`` into ``123``. This reads bytes, splits
on newline bytes only, and parses each record with :func:`train.score.tables.parse_lines`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from ray.data.datasource import FileBasedDatasource

from train.score.tables import parse_lines

LINES_PER_BLOCK = 10_000  # blocks of a bounded size; Ray splits them further as asked


class JsonlRecords(FileBasedDatasource):
    """One row per non-blank line: the record as written, its text, or why the text is unusable.

    >>> ray.data.read_datasource(JsonlRecords("prompts.jsonl"), override_num_blocks=8)
    """

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[pa.Table]:
        lines = f.readall().split(b"\n")
        for start in range(0, len(lines), LINES_PER_BLOCK):
            chunk = [line.decode("utf-8") for line in lines[start : start + LINES_PER_BLOCK]]
            table = parse_lines(chunk)
            if table.num_rows:
                yield table
