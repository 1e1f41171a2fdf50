"""The contract: one answer per shared fact, and the contract stays torch-free."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contract
from contract import (
    InvalidText,
    check_prediction,
    check_text,
    find_key_file,
    is_blank,
    load_labels,
    project_root,
    read_key,
)

INVISIBLE = ["\u200b", "\ufeff", "\x00", " ", "\t", "\u2028", "\u00a0", "\u0301", "\u200d"]


def test_labels_come_from_conf_intents_yaml() -> None:
    labels = load_labels()
    assert len(labels) == 10 and labels[2] == "code_generation"
    assert contract.id2label()[4] == "reasoning" and contract.label2id()["translation"] == 6


def test_project_root_honours_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    assert project_root() == tmp_path.resolve()
    assert contract.conf_dir() == tmp_path.resolve() / "conf"


def test_project_root_defaults_to_this_checkout(monkeypatch) -> None:
    monkeypatch.delenv("PROJECT_ROOT", raising=False)
    assert (project_root() / "conf" / "intents.yaml").is_file()


@given(st.lists(st.sampled_from(INVISIBLE), min_size=1, max_size=20).map("".join))
def test_invisible_only_text_is_blank(text: str) -> None:
    assert is_blank(text)
    with pytest.raises(InvalidText, match="no visible character"):
        check_text(text)


@given(st.text(min_size=1).filter(lambda t: not is_blank(t)))
def test_any_text_with_a_visible_character_passes_unchanged(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(InvalidText, match="unpaired surrogate"):
            check_text(text)
    else:
        assert check_text(text) is text


@pytest.mark.parametrize("value", [None, 3, b"bytes", ["a"], {"text": "a"}])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidText, match="must be a string"):
        check_text(value)


def test_lone_surrogate_is_refused_with_its_position() -> None:
    with pytest.raises(InvalidText, match=r"U\+D800 at character 2"):
        check_text("ab\ud800c")


GOOD = {
    "intent": "translation",
    "confidence": 0.9,
    "top_k": [{"intent": "translation", "score": 0.9}, {"intent": "reasoning", "score": 0.05}],
    "model_version": "3",
    "truncated": False,
}


def test_a_well_formed_prediction_passes() -> None:
    assert check_prediction(GOOD, load_labels()) is GOOD


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"intent": "maths"}, "unknown intent"),
        ({"confidence": 1.5}, "probability"),
        ({"confidence": True}, "probability"),
        ({"truncated": "no"}, "truncated"),
        ({"model_version": ""}, "model_version"),
        ({"top_k": []}, "top_k"),
        ({"top_k": [{"intent": "reasoning", "score": 0.9}]}, "start with the predicted"),
        (
            {
                "top_k": [
                    {"intent": "translation", "score": 0.1},
                    {"intent": "reasoning", "score": 0.5},
                ]
            },
            "ranked",
        ),
    ],
)
def test_malformed_predictions_say_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_prediction({**GOOD, **change}, load_labels())


def test_missing_fields_are_named() -> None:
    with pytest.raises(ValueError, match="truncated"):
        check_prediction({k: v for k, v in GOOD.items() if k != "truncated"})


def test_key_file_lookup_and_reading(tmp_path: Path, monkeypatch) -> None:
    keys = tmp_path / "key_file.json"
    keys.write_text(json.dumps({"inference": {"key": "i-key"}, "management": {"key": "m-key"}}))
    monkeypatch.setenv("TORCHSERVE_KEY_FILE", str(keys))
    assert find_key_file() == keys
    assert read_key(keys, "inference") == "i-key"
    # Without the variable, the key file of `make serve` in the project root is found.
    monkeypatch.delenv("TORCHSERVE_KEY_FILE")
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    assert find_key_file() is None
    (tmp_path / ".torchserve").mkdir()
    keys.rename(tmp_path / ".torchserve" / "key_file.json")
    assert find_key_file() == tmp_path.resolve() / ".torchserve" / "key_file.json"


@pytest.mark.parametrize("content", ["", "{}", '{"inference": {"key": ""}}', "not json"])
def test_a_bad_key_file_is_a_clear_error_without_secrets(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key_file.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path)):
        read_key(path, "inference")


def test_the_contract_imports_no_heavy_package() -> None:
    code = (
        "import sys, contract, contract.cli; "
        "heavy = {'torch', 'transformers', 'mlflow', 'dvc', 'great_expectations', 'ts', "
        "'pydantic', 'aiohttp', 'httpx'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_contract_imports_no_other_project_package() -> None:
    source = "\n".join(p.read_text() for p in Path(contract.__file__).parent.glob("*.py"))
    for other in ("train", "handlers", "serving_client", "techniques", "ops", "api"):
        assert f"from {other}" not in source and f"import {other}" not in source
