"""The parts of batch scoring that need no Ray: the per-row rule, the actor's batch call, JSONL
parsing, and the writer (order, types, staging)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract import MAX_BODY_BYTES, InvalidText
from train.score import BatchScorer, InputFileError, check_prompt
from train.score.tables import parse_lines
from train.score.writers import ADDED, TableWriter


def test_the_row_rule_is_the_servers() -> None:
    assert check_prompt("hi there") == "hi there"
    for bad in ("", " \t", "\u200b", None, 7, b"bytes"):
        with pytest.raises(InvalidText):
            check_prompt(bad)
    check_prompt("é" * (MAX_BODY_BYTES // 2))  # 2 bytes each: exactly at the limit
    with pytest.raises(InvalidText, match="bytes; the limit is"):
        check_prompt("é" * (MAX_BODY_BYTES // 2) + "x")


def test_the_actor_scores_good_rows_and_explains_bad_ones(tiny_archive: Path) -> None:
    scorer = BatchScorer(str(tiny_archive), threads=1)
    batch = pa.table({"text": ["Write a limerick", "  ", None], "intent": ["old", "old", "old"]})

    out = scorer(batch)

    assert out.column_names == [
        "text", "intent", "confidence", "low_confidence", "model_version", "error"
    ]  # fmt: skip
    rows = out.to_pylist()
    want = scorer.predictor.predict(["Write a limerick"])[0]
    assert (rows[0]["intent"], rows[0]["error"]) == (want["intent"], None)
    assert rows[0]["confidence"] == pytest.approx(want["confidence"])
    assert [r["intent"] for r in rows[1:]] == [None, None]  # the old column is replaced
    assert rows[1]["error"].startswith('"text" has no visible character')
    assert rows[2]["error"] == '"text" must be a string, got NoneType'
    assert {r["model_version"] for r in rows} == {"1.0"}


def test_the_actor_sorts_by_length_but_answers_in_order(tiny_archive: Path) -> None:
    texts = ["a much longer prompt about planning a trip to Lisbon in May", "hi", "sum this up"]
    texts += ["why", "Translate 'good night' into Italian, please"]
    scorer = BatchScorer(str(tiny_archive), threads=1, batch_size=2)
    out = scorer(pa.table({"text": texts})).to_pylist()
    alone = [scorer.predictor.predict([text])[0] for text in texts]
    assert [r["intent"] for r in out] == [r["intent"] for r in alone]
    for row, want in zip(out, alone, strict=True):
        assert row["confidence"] == pytest.approx(want["confidence"], abs=1e-5)


def test_the_actor_loads_an_archive_sent_as_bytes(tiny_archive: Path) -> None:
    scorer = BatchScorer(tiny_archive.read_bytes(), threads=1)
    assert scorer.predictor.model_version == "1.0"


def test_jsonl_lines_keep_their_record_and_flag_non_strings() -> None:
    lines = ['{"text": "0123", "n": 1}', "  ", '{"text": [1]}', '{"id": 3}\r']
    out = parse_lines(lines).to_pylist()
    assert [r["__record"] for r in out] == [
        '{"text": "0123", "n": 1}',
        '{"text": [1]}',
        '{"id": 3}\r',
    ]
    assert [r["text"] for r in out] == ["0123", None, None]
    assert out[0]["__text_error"] is None
    assert out[1]["__text_error"] == '"text" must be a string, got list'
    assert out[2]["__text_error"] == 'no "text" field'
    with pytest.raises(InputFileError, match="not valid JSON"):
        parse_lines(["{oops"])


def _scored(texts: list[str | None], **inputs) -> pa.Table:
    n = len(texts)
    return pa.table(
        {
            "text": texts,
            **inputs,
            "intent": ["reasoning"] * n,
            "confidence": [0.5] * n,
            "low_confidence": [False] * n,
            "model_version": ["3"] * n,
            "error": [None] * n,
        },
        schema=pa.schema(
            [("text", pa.string()), *((k, pa.array(v).type) for k, v in inputs.items()), *ADDED]
        ),
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_the_writer_appends_batches_in_order(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with TableWriter(path, schema=None) as out:
        out.write(_scored(["a", "b"], n=[1, 2]))
        out.write(_scored([], n=pa.array([], pa.int64())))
        out.write(_scored(["c"], n=[3]))
    assert out.rows == 3
    if suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        import pandas as pd

        rows = pd.read_csv(path).where(lambda f: f.notna(), None).to_dict("records")
    assert [(r["text"], r["n"]) for r in rows] == [("a", 1), ("b", 2), ("c", 3)]
    assert list(rows[0]) == ["text", "n", *ADDED.names]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_an_input_without_rows_still_gets_a_header(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    with TableWriter(tmp_path / "empty.csv", schema=schema):
        pass
    header = (tmp_path / "empty.csv").read_text().strip()
    assert header == ",".join(f'"{name}"' for name in ["id", "text", *ADDED.names])


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), TableWriter(path, schema=None) as out:
        out.write(_scored(["a"]))
        raise RuntimeError("the cluster went away")
    assert list(tmp_path.iterdir()) == []


def test_records_whose_keys_grow_need_jsonl(tmp_path: Path) -> None:
    def batch(record: dict) -> pa.Table:
        table = _scored([record.get("text")])
        return table.append_column("__record", pa.array([json.dumps(record)]))

    late = r"key\(s\) \['late'\].*write \.jsonl"
    with pytest.raises(InputFileError, match=late), TableWriter(tmp_path / "o.csv", None) as out:
        out.write(batch({"text": "a"}))
        out.write(batch({"text": "b", "late": 1}))
    with TableWriter(tmp_path / "out.jsonl", schema=None) as out:
        out.write(batch({"text": "a"}))
        out.write(batch({"text": "b", "late": 1}))
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[1]["late"] == 1 and "late" not in rows[0]
