"""Batch scoring on Ray Data with the tiny model's archive: round trips through CSV, JSONL and
Parquet, input order across blocks and actors, error rows, and what the command line refuses."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract import MAX_BODY_BYTES
from train.score import score_file
from train.score.__main__ import main

PROMPTS = [
    "Write a haiku about the sea",
    "Translate 'good morning' into French",
    "Why does my Python loop never end?",
    "Summarize the notes above in three bullets",
    "Plan a two-day trip to Lisbon",
]
BLANK = '"text" has no visible character: send the prompt to classify'
ADDED = ["intent", "confidence", "low_confidence", "model_version", "error"]


def _expected(predictor, texts: list[str]) -> list[tuple[str, float]]:
    return [(r["intent"], r["confidence"]) for r in predictor.predict(texts)]


def _check_scored(frame: pd.DataFrame, predictor, texts: list[str]) -> None:
    assert frame["error"].isna().all(), frame["error"].dropna().tolist()
    got = list(zip(frame["intent"], frame["confidence"], strict=True))
    for (intent, confidence), (want_intent, want_confidence) in zip(
        got, _expected(predictor, texts), strict=True
    ):
        assert intent == want_intent
        assert confidence == pytest.approx(want_confidence, abs=1e-5)
    assert {str(v) for v in frame["model_version"]} == {"1.0"}


@pytest.mark.slow
def test_csv_round_trip_keeps_every_column_value_and_row(
    tmp_path: Path, tiny_archive: Path, local_ray, predictor
) -> None:
    source = tmp_path / "prompts.csv"
    texts = [*PROMPTS, "Fix this:\n  for i in range(3):\n  print(i)"]  # a quoted newline
    pd.DataFrame(
        {"id": ["007", "8", "9", "10", "11", "12"], "text": texts, "note": ["", "NA", *"abcd"]}
    ).to_csv(source, index=False)

    summary = score_file(source, tmp_path / "scored.csv", tiny_archive, concurrency=2)

    out = pd.read_csv(tmp_path / "scored.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["id", "text", "note", *ADDED]
    assert list(out["id"]) == ["007", "8", "9", "10", "11", "12"]  # text stays text
    assert list(out["note"]) == ["", "NA", *"abcd"]
    assert list(out["text"]) == texts
    frame = pd.read_csv(tmp_path / "scored.csv", dtype={"id": str})
    _check_scored(frame, predictor, texts)
    assert (summary.rows, summary.errors, summary.model_version) == (6, 0, "1.0")


@pytest.mark.slow
def test_jsonl_round_trip_keeps_each_record_as_written(
    tmp_path: Path, tiny_archive: Path, local_ray, predictor
) -> None:
    records = [
        {"text": text, "id": f"0{i}", "meta": {"source": "chat", "n": i}, "tags": ["a", i]}
        for i, text in enumerate(PROMPTS)
    ]
    records[2] = {"id": "02", "text": 42}
    # Unicode line breaks are legal raw inside a JSON string: they must not split a record.
    records[3]["text"] = "Summarize this:\u2028first point\u0085second point"
    source = tmp_path / "prompts.jsonl"
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n"
    source.write_text(text, encoding="utf-8")

    score_file(source, tmp_path / "scored.jsonl", tiny_archive, concurrency=2)

    lines = (tmp_path / "scored.jsonl").read_text(encoding="utf-8").split("\n")
    rows = [json.loads(line) for line in lines if line]  # not splitlines: U+2028 is no break
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        assert {k: row[k] for k in record} == record  # "0123"-like ids stay strings
        assert list(row)[-5:] == ADDED
    assert rows[2]["error"] == '"text" must be a string, got int' and rows[2]["intent"] is None
    kept = [r for i, r in enumerate(rows) if i != 2]
    _check_scored(pd.DataFrame(kept), predictor, [r["text"] for r in kept])


@pytest.mark.slow
def test_parquet_round_trip_keeps_the_schema(
    tmp_path: Path, tiny_archive: Path, local_ray, predictor
) -> None:
    source = tmp_path / "prompts.parquet"
    table = pa.table(
        {
            "text": pa.array(PROMPTS),
            "n": pa.array([1, None, 3, 4, 5], type=pa.int32()),
            "when": pa.array(pd.date_range("2026-01-01", periods=5, tz="UTC")),
        }
    )
    pq.write_table(table, source)

    score_file(source, tmp_path / "scored.parquet", tiny_archive, concurrency=2)

    out = pq.read_table(tmp_path / "scored.parquet")
    assert out.schema.names == ["text", "n", "when", *ADDED]
    assert out.select(["text", "n", "when"]).equals(table)  # int32 with a null stays int32
    assert out.schema.field("confidence").type == pa.float64()
    _check_scored(out.to_pandas(), predictor, PROMPTS)


@pytest.mark.slow
def test_rows_keep_input_order_across_blocks_and_actors(
    tmp_path: Path, tiny_archive: Path, local_ray, predictor
) -> None:
    n = 4_000
    texts = [f"{PROMPTS[i % 5]} (request {i})" for i in range(n)]
    source = tmp_path / "many.csv"
    pd.DataFrame({"row": range(n), "text": texts}).to_csv(source, index=False)

    summary = score_file(
        source, tmp_path / "many.parquet", tiny_archive, concurrency=2, batch_size=16
    )

    out = pq.read_table(tmp_path / "many.parquet").to_pandas()
    assert summary.actors == 2
    assert list(out["row"]) == [str(i) for i in range(n)]
    assert list(out["text"]) == texts
    _check_scored(out, predictor, texts)


@pytest.mark.slow
def test_texts_that_cannot_be_scored_keep_their_row_with_the_reason(
    tmp_path: Path, tiny_archive: Path, local_ray, predictor
) -> None:
    too_long = "a" * (MAX_BODY_BYTES + 1)
    texts = [PROMPTS[0], "", "   ", "\u200b\ufeff", too_long, PROMPTS[1], None, math.nan]
    source = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table({"i": range(len(texts)), "text": pa.array(texts, from_pandas=True)}), source
    )

    summary = score_file(source, tmp_path / "bad.csv", tiny_archive, concurrency=2)

    out = pd.read_csv(tmp_path / "bad.csv")
    assert list(out["i"]) == list(range(len(texts)))
    errors = [None if pd.isna(e) else e for e in out["error"]]
    assert errors[:6] == [
        None,
        BLANK,
        BLANK,
        BLANK,
        f'"text" is {MAX_BODY_BYTES + 1} bytes; the limit is {MAX_BODY_BYTES}: shorten the text',
        None,
    ]
    assert errors[6] == errors[7] == '"text" must be a string, got NoneType'
    assert out["intent"].isna().tolist() == [e is not None for e in errors]
    assert summary.errors == 6
    _check_scored(out.iloc[[0, 5]], predictor, [PROMPTS[0], PROMPTS[1]])


@pytest.mark.slow
def test_the_command_scores_a_file_on_its_own_ray(tmp_path: Path, tiny_archive: Path) -> None:
    source = tmp_path / "prompts.csv"
    pd.DataFrame({"text": PROMPTS}).to_csv(source, index=False)
    out = tmp_path / "scored.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.score",
            str(source),
            str(out),
            "--archive",
            str(tiny_archive),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scored 5 of 5 rows (0 with an error) with model version 1.0" in proc.stderr
    assert len(out.read_text().splitlines()) == 5


def _fails(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_a_file_without_a_text_column_is_refused(tmp_path: Path, tiny_archive: Path, capsys):
    source = tmp_path / "prompts.csv"
    source.write_text("prompt,id\nhello,1\n")
    err = _fails([str(source), str(tmp_path / "o.csv"), "--archive", str(tiny_archive)], capsys)
    assert "no 'text' column; found ['prompt', 'id']" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("prompts.xlsx", b"PK\x03\x04", "unsupported file type '.xlsx'"),
        ("prompts.csv", b"text\n\xff\xfe broken\n", "cannot be read as csv"),
        ("prompts.parquet", b"not parquet at all", "cannot be read as parquet"),
        ("prompts.csv", b"text,id\nhello,1\nbad,2,3\n", "Expected 2 columns, got 3: bad,2,3"),
        ("prompts.jsonl", b"[1, 2]\n", "line 1 is a JSON list, not an object"),
        ("prompts.jsonl", b'{"text": "ok"}\n\n{"text": "cut\n', "line 3 is not valid JSON"),
        ("prompts.jsonl", b"\n\n", "holds no JSON record"),
        ("prompts.csv", b"", "the file is empty"),
    ],
)
def test_an_unreadable_or_unsupported_file_is_refused_in_one_line(
    tmp_path: Path, tiny_archive: Path, capsys, name: str, content: bytes, message: str
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    err = _fails([str(source), str(tmp_path / "o.csv"), "--archive", str(tiny_archive)], capsys)
    assert message in err


def test_a_missing_input_archive_or_bad_output_is_refused(
    tmp_path: Path, tiny_archive: Path, capsys
) -> None:
    source = tmp_path / "prompts.csv"
    source.write_text("text\nhello\n")
    out = str(tmp_path / "o.csv")
    assert "no such file" in _fails([str(tmp_path / "nope.csv"), out], capsys)
    assert "no model archive at" in _fails(
        [str(source), out, "--archive", str(tmp_path / "none.mar")], capsys
    )
    not_mar = tmp_path / "fake.mar"
    not_mar.write_bytes(b"not a zip")
    assert "not a TorchServe model archive" in _fails(
        [str(source), out, "--archive", str(not_mar)], capsys
    )
    assert "unsupported file type '.txt'" in _fails(
        [str(source), str(tmp_path / "o.txt"), "--archive", str(tiny_archive)], capsys
    )
    assert "would overwrite the input" in _fails(
        [str(source), str(source), "--archive", str(tiny_archive)], capsys
    )


def test_the_command_exits_2_with_one_line(tmp_path: Path) -> None:
    source = tmp_path / "prompts.csv"
    source.write_text("prompt\nhello\n")
    proc = subprocess.run(
        [sys.executable, "-m", "train.score", str(source), str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no 'text' column" in proc.stderr
