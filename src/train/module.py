"""The LightningModule: an ``AutoModelForSequenceClassification`` trained with AdamW, warmup and
decay; validation scored with torchmetrics, which reduce across processes under DDP."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytorch_lightning as pl
import torch
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from transformers import get_scheduler

from train.modeling import load_classifier


class IntentClassifier(pl.LightningModule):
    """Fine-tunes a pretrained encoder (or a config-built one) on the ten intents.

    Logs ``train/loss`` per epoch, and ``val/loss``, ``val/accuracy``, ``val/macro_f1`` and
    ``val/macro_f1_best`` per epoch. ``self.model`` is a plain transformers model, exported with
    ``save_pretrained``.
    """

    def __init__(
        self,
        pretrained: str | None,
        tokenizer: str,
        family: str,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Mapping,
        init: str = "pretrained",
        architecture: Mapping | None = None,
        dropout: float | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.model = load_classifier(
            pretrained, init=init, architecture=architecture, dropout=dropout
        )
        # from_pretrained returns the model in eval mode, and Lightning keeps submodule modes as
        # it finds them: without this, dropout would stay off for the whole fit.
        self.model.train()
        self.optimizer_factory = optimizer
        self.scheduler_cfg = dict(scheduler)
        self.loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        classes = self.model.config.num_labels
        self.val_metrics = MetricCollection(
            {
                "accuracy": MulticlassAccuracy(classes, average="micro"),
                "macro_f1": MulticlassF1Score(classes, average="macro"),
            },
            prefix="val/",
        )
        self.val_macro_f1_best = MaxMetric()

    def forward(self, input_ids, attention_mask, **extra) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits

    def _step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        labels = batch.pop("labels")
        logits = self(**batch)
        return self.loss_fn(logits, labels), logits

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        n = batch["labels"].shape[0]
        loss, _ = self._step(batch)
        # Epoch means go to MLflow as train/loss; the progress bar also shows each step's loss.
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self.log("loss", loss, on_step=True, on_epoch=False, prog_bar=True, logger=False)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        labels = batch["labels"]
        loss, logits = self._step(batch)
        self.log(
            "val/loss",
            loss,
            on_epoch=True,
            prog_bar=True,
            batch_size=labels.shape[0],
            sync_dist=True,
        )
        self.val_metrics.update(logits.detach(), labels)

    def on_validation_epoch_end(self) -> None:
        scores = self.val_metrics.compute()  # reduced over every process's share
        self.val_metrics.reset()
        # Lightning's sanity check runs validation before training; its scores are not a result.
        if not self.trainer.sanity_checking:
            self.val_macro_f1_best.update(scores["val/macro_f1"])
        # Already equal on every rank; sync_dist only tells Lightning so (no DDP warning).
        self.log("val/accuracy", scores["val/accuracy"], sync_dist=True)
        self.log("val/macro_f1", scores["val/macro_f1"], prog_bar=True, sync_dist=True)
        if self.val_macro_f1_best.update_count:
            self.log("val/macro_f1_best", self.val_macro_f1_best.compute(), sync_dist=True)

    def configure_optimizers(self):
        # No weight decay on biases and LayerNorm weights, as in BERT's original recipe.
        decay, no_decay = [], []
        for param in self.parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 else decay).append(param)
        optimizer = self.optimizer_factory(
            [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
        )
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(self.scheduler_cfg.get("warmup_ratio", 0.0) * total)
        scheduler = get_scheduler(
            self.scheduler_cfg.get("name", "linear"),
            optimizer,
            num_warmup_steps=warmup,
            num_training_steps=total,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
