"""``train(cfg)``: build the data, model, trainer and MLflow run from a composed config, fit, export
the best checkpoint as a Hugging Face directory and register it."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import hydra
import mlflow
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import MLFlowLogger
from pytorch_lightning.loggers.logger import DummyLogger
from pytorch_lightning.utilities import rank_zero_only

from train.calibration import calibrate
from train.run_info import data_fingerprint, flatten, git_state
from train.tracking import MODEL_ARTIFACT, REGISTERED_MODEL, ensure_experiment

log = logging.getLogger(__name__)


def _instantiate_all(group: DictConfig | None) -> list:
    return [hydra.utils.instantiate(c) for c in (group or {}).values() if "_target_" in c]


def _mlflow_logger(loggers: list) -> MLFlowLogger:
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            return logger
    raise ValueError("conf/logger must configure an MLFlowLogger: every run is tracked in MLflow")


def _record_inputs(cfg: DictConfig, logger: MLFlowLogger) -> None:
    client, run_id = logger.experiment, logger.run_id
    resolved = OmegaConf.to_container(cfg, resolve=True)
    logger.log_hyperparams(flatten(resolved))
    client.log_text(run_id, OmegaConf.to_yaml(resolved), "config/train.yaml")
    tags = {
        **git_state(),
        "data_hash": data_fingerprint(cfg.data.processed_dir),
        "model_family": cfg.model.family,
        "model_init": cfg.model.init,
    }
    tags["mlflow.source.git.commit"] = tags["git_commit"]
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def export_best(module: pl.LightningModule, datamodule, checkpoint: str | None, out: Path) -> Path:
    """Load the best checkpoint's weights (the last weights if none was kept) and write the model
    and tokenizer with ``save_pretrained``; the config carries ``id2label``/``label2id``."""
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    module.model.save_pretrained(out, safe_serialization=True)
    # Serving truncates where training did: the length travels in the tokenizer's config.
    datamodule.tokenizer.model_max_length = datamodule.max_length
    datamodule.tokenizer.save_pretrained(out)
    return out


def _register(client: mlflow.MlflowClient, run_id: str, artifact_uri: str, tags: dict) -> str:
    try:
        client.get_registered_model(REGISTERED_MODEL)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(
            REGISTERED_MODEL, description="Ten-intent prompt classifier (Hugging Face directory)."
        )
    version = client.create_model_version(
        REGISTERED_MODEL, source=f"{artifact_uri}/{MODEL_ARTIFACT}", run_id=run_id, tags=tags
    )
    return version.version


def _fit_share(cfg: DictConfig, model, datamodule) -> tuple[dict, dict]:
    """A DDP process other than global rank 0: fit this rank's share of the data, then return.

    Rank 0 alone tracks, exports and registers. This rank's logger records nothing: even building
    the MLflow logger opens the tracking store (on a fresh SQLite file, a race with rank 0 to
    create its tables), and touching its run would create a second run."""
    callbacks = _instantiate_all(cfg.get("callbacks"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=False)
    trainer.loggers = [DummyLogger()]  # set after: Hydra cannot merge a DummyLogger into a config
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    produced = {"run_id": None, "export_dir": None, "model_version": None, "best_checkpoint": None}
    return metrics, {**produced, "module": model, "datamodule": datamodule, "trainer": trainer}


def train(cfg: DictConfig) -> tuple[dict[str, float], dict]:
    """Fit the configured model; return its metrics and what it produced (run id, export dir,
    registered version). No module-level state: tests call this with a composed config."""
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data, tokenizer=cfg.model.tokenizer, seed=cfg.seed)
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    if rank_zero_only.rank != 0:  # torchrun's RANK (or LOCAL_RANK), read when Lightning loads
        return _fit_share(cfg, model, datamodule)
    loggers = _instantiate_all(cfg.get("logger"))
    mlf = _mlflow_logger(loggers)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    if not trainer.is_global_zero:  # ranks that only the strategy knows (Lightning's launcher)
        return _fit_share(cfg, model, datamodule)
    # Made here, before the logger makes it untagged, so the MLflow UI opens it as model training.
    ensure_experiment(
        mlflow.MlflowClient(mlf._tracking_uri), mlf._experiment_name, mlf._artifact_location
    )
    client, run_id = mlf.experiment, mlf.run_id
    try:
        _record_inputs(cfg, mlf)
        client.set_tag(run_id, "world_size", str(trainer.world_size))
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        best_path = (
            trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        )
        best_score = (
            trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        )
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if best_score is not None:
            metrics["val/macro_f1_best"] = float(best_score)
        client.log_metric(
            run_id,
            "val/macro_f1_best",
            metrics.get("val/macro_f1_best", metrics.get("val/macro_f1", 0.0)),
        )
        client.log_metric(run_id, "epochs_trained", trainer.current_epoch)
        client.log_metric(run_id, "train/batches_per_rank", trainer.num_training_batches)

        with tempfile.TemporaryDirectory() as tmp:
            exported = export_best(model, datamodule, best_path or None, Path(tmp) / "hf_model")
            if cfg.calibration.enabled:
                fitted = calibrate(exported, cfg.data.processed_dir, **cfg.calibration.options)
                client.log_metric(run_id, "calibration/temperature", fitted.temperature)
                client.log_metric(
                    run_id, "calibration/low_confidence_threshold", fitted.low_confidence_threshold
                )
            client.log_artifacts(run_id, str(exported), MODEL_ARTIFACT)
            export_dir = None
            if cfg.get("export_dir"):
                export_dir = Path(cfg.export_dir)
                if export_dir.exists():
                    shutil.rmtree(export_dir)
                shutil.copytree(exported, export_dir)
        version = None
        if cfg.get("register", True):
            run = client.get_run(run_id)
            version = _register(
                client,
                run_id,
                run.info.artifact_uri,
                {
                    "model_family": cfg.model.family,
                    "val_macro_f1": f"{metrics.get('val/macro_f1_best', 0.0):.4f}",
                },
            )
        produced = {
            "run_id": run_id,
            "export_dir": export_dir,
            "model_version": version,
            "best_checkpoint": best_path or None,
        }
        if export_dir is not None:
            (export_dir.parent / "run.json").write_text(
                json.dumps(
                    {**produced, "export_dir": str(export_dir), "metrics": metrics}, indent=2
                )
                + "\n"
            )
        log.info("run %s: %s (model version %s)", run_id, metrics, version)
        return metrics, {**produced, "module": model, "datamodule": datamodule, "trainer": trainer}
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
