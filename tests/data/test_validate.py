"""The Great Expectations suite on the shipped CSV and on bad data, each failing for one reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract import load_labels, project_root
from train.config import compose
from train.validate import validate_file

SHIPPED = project_root() / "data" / "raw" / "prompt_intents.csv"


def failed(report) -> list[str]:
    return [c.description for c in report.failures]


def test_shipped_csv_passes_the_suite(tmp_path: Path) -> None:
    cfg = compose("validate", [f"paths.root_dir={tmp_path}", f"data.raw_path={SHIPPED}"])
    report, frame = validate_file(cfg)
    assert report.success, report.message()
    counts = frame["label"].value_counts()
    assert len(frame) >= 2000
    assert set(counts.index) == set(load_labels())
    assert counts.min() >= 180, counts.to_dict()
    assert frame["normalized_text"].nunique() / len(frame) >= 0.98
    # Every group sits in exactly one split, and every split holds every intent.
    assert (frame.groupby("group")["split"].nunique() == 1).all()
    assert (frame.groupby("split")["label"].nunique() == len(load_labels())).all()


def test_good_table_passes(write_csv, good_rows, validate_cfg) -> None:
    report, _ = validate_file(validate_cfg(write_csv(good_rows)))
    assert report.success, report.message()


@pytest.mark.parametrize(
    ("mutate", "expected", "bad_value"),
    [
        (lambda rows: rows[3].update(text=""), "text is not null", None),
        (lambda rows: rows[3].update(text="   \t "), "text is not blank", "   \t "),
        (
            lambda rows: rows[3].update(label="small_talk"),
            "label is one of the ten intents",
            "small_talk",
        ),
        (
            lambda rows: rows[3].update(text=rows[40]["text"].upper() + "!!"),
            "no normalised duplicate across splits",
            None,
        ),
        (lambda rows: rows[3].update(text="x" * 5000), "text length is", None),
    ],
    ids=["null-text", "blank-text", "unknown-label", "normalised-duplicate", "too-long"],
)
def test_bad_row_fails_with_a_message_naming_it(
    write_csv, good_rows, validate_cfg, mutate, expected, bad_value
) -> None:
    mutate(good_rows)
    report, frame = validate_file(validate_cfg(write_csv(good_rows)))
    assert not report.success
    assert frame is None
    assert any(d.startswith(expected) for d in failed(report)), failed(report)
    check = next(c for c in report.failures if c.description.startswith(expected))
    assert 4 in [ex["row"] for ex in check.examples]  # data row 4 is the one we broke
    assert expected in report.message()
    if bad_value is not None:
        assert repr(bad_value) in report.message()


def test_exact_duplicate_fails(write_csv, good_rows, validate_cfg) -> None:
    good_rows.append(dict(good_rows[0], group="another-group"))
    report, _ = validate_file(validate_cfg(write_csv(good_rows)))
    assert "no duplicate texts" in failed(report)


def test_intent_share_out_of_bounds_fails(write_csv, good_rows, validate_cfg) -> None:
    extra = [
        {"text": f"more greetings {i}", "label": "conversation", "group": f"extra-{i}"}
        for i in range(60)
    ]
    report, _ = validate_file(validate_cfg(write_csv(good_rows + extra)))
    assert any(d.startswith("each intent's share") for d in failed(report))
    assert "conversation" in report.message()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"text,label\nhello there,conversation\n", "missing column(s) ['group']"),
        (b"text,label,group\ncaf\xe9 au lait?,conversation,g1\n", "line 2 is not valid UTF-8"),
    ],
    ids=["empty-file", "missing-column", "non-utf8"],
)
def test_unreadable_file_fails_with_a_message(tmp_path, validate_cfg, content, message) -> None:
    raw = tmp_path / "bad.csv"
    raw.write_bytes(content)
    report, frame = validate_file(validate_cfg(raw))
    assert not report.success and frame is None
    assert message in report.message()


@pytest.mark.slow
def test_cli_failure_exits_nonzero_and_leaves_processed_untouched(
    tmp_path, write_csv, good_rows
) -> None:
    good_rows[5]["text"] = good_rows[70]["text"] + "."  # a leaked normalised duplicate
    raw = write_csv(good_rows)
    processed = tmp_path / "processed"
    (processed / "train").mkdir(parents=True)
    sentinel = processed / "train" / "previous.txt"
    sentinel.write_text("old split")
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.validate",
            f"data.raw_path={raw}",
            f"data.processed_dir={processed}",
            f"report_path={report_path}",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project_root(),
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 1, result.stderr
    assert "no normalised duplicate across splits" in result.stderr
    assert "row=6" in result.stderr and "Nothing was written" in result.stderr
    assert sorted(p.name for p in processed.rglob("*")) == ["previous.txt", "train"]
    assert sentinel.read_text() == "old split"
    assert json.loads(report_path.read_text())["success"] is False


@pytest.mark.slow
def test_cli_success_writes_three_splits(tmp_path, write_csv, good_rows) -> None:
    raw = write_csv(good_rows)
    processed = tmp_path / "processed"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.validate",
            f"data.raw_path={raw}",
            f"data.processed_dir={processed}",
            f"report_path={tmp_path / 'report.json'}",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project_root(),
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in processed.iterdir()) == ["test", "train", "validation"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["success"] is True
    assert sum(sum(c.values()) for c in report["split_counts"].values()) == len(good_rows)
