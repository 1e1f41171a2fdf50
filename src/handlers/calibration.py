"""How far to trust the model's probabilities: the calibration a model directory carries.

Training fits it on the validation split after the last epoch (``train.calibration``) and writes
``calibration.json`` beside the weights, so every reader of that directory (the TorchServe
handler through the archive, evaluation, local mode, batch scoring) applies the same one.
Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """``temperature`` divides the logits before the softmax (temperature scaling, Guo et al.,
    2017); a prediction whose top probability is under ``low_confidence_threshold`` is flagged
    ``low_confidence``. ``fitted`` records how both were chosen, for people, not for code."""

    temperature: float = 1.0
    low_confidence_threshold: float = 0.0
    fitted: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature!r}")
        if not 0.0 <= self.low_confidence_threshold <= 1.0:
            raise ValueError(
                f"low_confidence_threshold must be in [0, 1], got {self.low_confidence_threshold!r}"
            )

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> Calibration:
        """The calibration saved in ``model_dir``; none saved means none applied."""
        path = Path(model_dir) / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            temperature=float(data["temperature"]),
            low_confidence_threshold=float(data["low_confidence_threshold"]),
            fitted=dict(data.get("fitted") or {}),
        )

    def save(self, model_dir: str | os.PathLike[str]) -> Path:
        path = Path(model_dir) / CALIBRATION_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path
