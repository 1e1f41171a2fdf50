"""``python -m train [overrides]``: fine-tune the intent classifier (config: ``conf/train.yaml``).

Examples:
    python -m train                                  # MiniLM on CPU, offline
    python -m train model.optimizer.lr=5e-5 trainer.max_epochs=4
    python -m train experiment=deberta_v3_base       # GPU, bf16
    python -m train -m hparams_search=minilm_optuna  # Optuna sweep
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from train.config import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from train.fit import train  # heavy imports after Hydra has parsed --help and overrides

    metrics, _ = train(cfg)
    return metrics.get(cfg.optimized_metric)


if __name__ == "__main__":
    main()
