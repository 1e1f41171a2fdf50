"""The plain prediction module: request parsing, handler settings and IntentPredictor."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from contract import check_prediction, conf_dir, load_labels
from handlers.payloads import InvalidRequest, parse_batch, parse_request
from handlers.prediction import HandlerSettings, IntentPredictor

PROMPTS = [
    "Write a haiku about autumn rain",
    "Translate 'good morning' into Portuguese",
    "Why does my Python loop never end?",
    "hi!",
]


@pytest.fixture(scope="module")
def predictor(tiny_model_dir: Path) -> IntentPredictor:
    return IntentPredictor.from_pretrained(tiny_model_dir, model_version="7")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": "plan my week"}, "plan my week"),
        ("plan my week", "plan my week"),
        (b"plan my week", "plan my week"),
        (b'{"text": "plan my week"}', "plan my week"),
        (bytearray("résumé tips".encode()), "résumé tips"),
    ],
)
def test_parse_request_accepts_json_object_or_utf8_text(payload: object, expected: str) -> None:
    assert parse_request(payload) == expected


@pytest.mark.parametrize(
    ("payload", "status", "fix"),
    [
        ({"text": "   \n"}, 400, "no visible character"),
        (b"\xff\xfeabc", 400, "not valid UTF-8"),
        ({"text": 42}, 400, "must be a string, got int"),
        ({"text": ["a"]}, 400, "must be a string, got list"),
        ({"prompt": "hi"}, 400, 'no "text" field'),
        (b'{"text": ', 400, "not valid JSON"),
        ([1, 2], 400, "got JSON list"),
        (None, 400, "empty request"),
        (b"", 400, "empty request"),
        ({"text": "x" * 65}, 413, "limit is 64"),
        (b"y" * 65, 413, "limit is 64"),
    ],
)
def test_parse_request_refuses_bad_input_with_status_and_fix(
    payload: object, status: int, fix: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(payload, max_body_bytes=64)
    assert caught.value.status == status
    assert fix in str(caught.value)
    assert caught.value.to_json() == {
        "code": status,
        "type": "InvalidRequest",
        "message": str(caught.value),
    }


def test_parse_batch_keeps_positions_of_good_and_bad_requests() -> None:
    batch = parse_batch(
        [{"body": {"text": "a"}}, {"data": b"\xff"}, {"body": None, "data": "c"}, {}],
        max_body_bytes=100,
    )
    assert batch.size == 4
    assert batch.texts == ["a", "c"]
    assert batch.positions == [0, 2]
    assert sorted(batch.errors) == [1, 3]


def test_project_model_config_gives_valid_handler_settings() -> None:
    config = yaml.safe_load((conf_dir() / "serve" / "model-config.yaml").read_text())
    settings = HandlerSettings.from_model_config(config)
    # The trained length is written into the archive by train.package, never restated here.
    assert settings.max_length is None
    assert 1 <= settings.top_k <= len(load_labels())
    assert config["batchSize"] >= 1 and config["maxBatchDelay"] >= 0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_lenght": 64}, "unknown handler setting(s) ['max_lenght']"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"max_body_bytes": "big"}, "max_body_bytes must be a positive integer"),
        ({"torch_threads": 0}, "torch_threads must be null or >= 1"),
    ],
)
def test_handler_settings_name_the_bad_key(section: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        HandlerSettings.from_model_config({"handler": section})
    assert message in str(caught.value)


def test_predict_returns_documented_schema(predictor: IntentPredictor) -> None:
    labels = set(load_labels())
    results = predictor.predict(PROMPTS)
    assert len(results) == len(PROMPTS)
    for result in results:
        assert set(result) == {
            "intent",
            "confidence",
            "top_k",
            "model_version",
            "truncated",
            "low_confidence",
        }
        assert check_prediction(result, labels) is result  # the contract's schema
        assert result["intent"] in labels
        assert result["model_version"] == "7"
        assert result["truncated"] is False
        scores = [entry["score"] for entry in result["top_k"]]
        assert len(scores) == 3
        assert scores == sorted(scores, reverse=True)
        assert result["top_k"][0] == {"intent": result["intent"], "score": result["confidence"]}
        assert 0.0 < result["confidence"] <= 1.0
    json.dumps(results)  # plain Python types only


def test_batched_predictions_match_one_at_a_time(predictor: IntentPredictor) -> None:
    batched = predictor.predict(PROMPTS)
    for prompt, together in zip(PROMPTS, batched, strict=True):
        alone = predictor.predict([prompt])[0]
        assert alone["intent"] == together["intent"]
        assert alone["confidence"] == pytest.approx(together["confidence"], abs=1e-5)


def test_prompts_get_different_intents(predictor: IntentPredictor) -> None:
    # Guards the tests that compare answers: they need a model whose answers differ by prompt.
    assert len({r["intent"] for r in predictor.predict(PROMPTS)}) > 1


def test_long_prompt_is_truncated_and_flagged(tiny_model_dir: Path) -> None:
    predictor = IntentPredictor.from_pretrained(tiny_model_dir, max_length=16)
    short, long = predictor.predict(["short prompt", "many words " * 40])
    assert short["truncated"] is False
    assert long["truncated"] is True
    batch = predictor.encode(["many words " * 40])
    assert batch.inputs["input_ids"].shape == (1, 16)


def test_encode_pads_to_longest_prompt_and_feeds_only_model_inputs(
    predictor: IntentPredictor,
) -> None:
    batch = predictor.encode(["one", "one two three four"])
    lengths = batch.inputs["attention_mask"].sum(dim=1).tolist()
    assert batch.inputs["input_ids"].shape[1] == max(lengths)
    assert lengths[0] < lengths[1]
    assert set(batch.inputs) <= {"input_ids", "token_type_ids", "attention_mask"}
    assert all(t.dtype == torch.long for t in batch.inputs.values())


@pytest.mark.parametrize("bad", [[""], ["  "], [None], [3]])
def test_predict_refuses_blank_or_non_string_text(predictor: IntentPredictor, bad: list) -> None:
    with pytest.raises(ValueError):
        predictor.predict(bad)


def test_predict_refuses_a_bare_string(predictor: IntentPredictor) -> None:
    with pytest.raises(ValueError, match="wrap a single text in a list"):
        predictor.predict("hello")


def test_predict_of_nothing_is_nothing(predictor: IntentPredictor) -> None:
    assert predictor.predict([]) == []


def test_top_k_outside_label_count_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="top_k must be between 1 and 10"):
        IntentPredictor.from_pretrained(tiny_model_dir, top_k=11)


def test_missing_model_dir_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model directory"):
        IntentPredictor.from_pretrained(tmp_path)


def test_from_archive_applies_packed_settings_and_version(
    tiny_archive: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from_archive = IntentPredictor.from_archive(tiny_archive, cache_dir=tmp_path)
    reference = IntentPredictor.from_pretrained(tiny_model_dir)
    packed = HandlerSettings.from_model_config(
        yaml.safe_load((conf_dir() / "serve" / "model-config.yaml").read_text())
    )
    assert from_archive.model_version == "1.0"
    assert from_archive.max_length == reference.max_length == 128  # the trained length
    assert from_archive.top_k == packed.top_k
    for ours, theirs in zip(from_archive.predict(PROMPTS), reference.predict(PROMPTS), strict=True):
        assert ours["intent"] == theirs["intent"]
        assert ours["confidence"] == pytest.approx(theirs["confidence"], abs=1e-6)
    overridden = IntentPredictor.from_archive(tiny_archive, cache_dir=tmp_path, top_k=1)
    assert len(overridden.predict(["hello"])[0]["top_k"]) == 1


def test_from_archive_refuses_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m train\.package"):
        IntentPredictor.from_archive(tmp_path / "absent.mar", cache_dir=tmp_path)
    foreign = tmp_path / "foreign.mar"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    with pytest.raises(ValueError, match="not a TorchServe archive"):
        IntentPredictor.from_archive(foreign, cache_dir=tmp_path / "cache")


def test_a_kserve_instance_is_read_like_a_request_body() -> None:
    # KServe's TorchServe envelope passes each instance as the request itself.
    batch = parse_batch([{"text": "plan my week"}, {"text": "  "}], max_body_bytes=100)
    assert batch.texts == ["plan my week"]
    assert batch.positions == [0]
    assert sorted(batch.errors) == [1]
