"""Expected calibration error, as an HF `evaluate` module kept offline.

ECE bins predictions by confidence (the top softmax probability) into equal-width bins and averages
|accuracy - mean confidence| over bins, weighted by each bin's share of samples (Guo et al., 2017).
The module also returns the per-bin figures a reliability diagram is drawn from.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Expected calibration error of top-label confidences, with reliability-diagram bins."
_KWARGS = """
Args:
    predictions (list of list of float): class probabilities per sample (rows sum to 1).
    references (list of int): true label ids.
    n_bins (int): equal-width confidence bins over [0, 1]; 10 by default.
Returns:
    ece (float), and bins: a list of {"lower", "upper", "count", "accuracy", "confidence"}.
Example:
    >>> evaluate.load("src/train/metrics/ece").compute(
    ...     predictions=[[0.9, 0.1], [0.2, 0.8]], references=[0, 1])["ece"]
    0.15
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ExpectedCalibrationError(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Guo et al., On Calibration of Modern Neural Networks, ICML 2017.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Value("int32"),
                }
            ),
        )

    def _compute(self, predictions, references, n_bins=10):
        probs = np.asarray(predictions, dtype=np.float64)
        refs = np.asarray(references)
        confidence = probs.max(axis=1)
        correct = (probs.argmax(axis=1) == refs).astype(np.float64)
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        # Right-closed bins so a confidence of exactly 1.0 lands in the last bin.
        index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
        ece, bins = 0.0, []
        for b in range(n_bins):
            mask = index == b
            count = int(mask.sum())
            acc = float(correct[mask].mean()) if count else 0.0
            conf = float(confidence[mask].mean()) if count else 0.0
            ece += abs(acc - conf) * count / max(len(refs), 1)
            bins.append(
                {
                    "lower": edges[b],
                    "upper": edges[b + 1],
                    "count": count,
                    "accuracy": acc,
                    "confidence": conf,
                }
            )
        return {"ece": float(ece), "bins": bins}
