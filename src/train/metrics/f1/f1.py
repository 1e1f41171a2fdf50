"""F1 score (macro, micro, weighted or per class), as an HF `evaluate` module kept offline."""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = "F1: the harmonic mean of precision and recall, averaged over classes as asked."
_KWARGS = """
Args:
    predictions (list of int): predicted label ids.
    references (list of int): true label ids.
    labels (list of int, optional): the label ids to score; all ten intents for per-class scores.
    average (str or None): "macro" (default), "micro", "weighted", or None for one score per label.
Returns:
    f1 (float, or list of float when average is None).
Example:
    >>> evaluate.load("src/train/metrics/f1").compute(predictions=[0, 1], references=[0, 1])
    {'f1': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class F1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
        )

    def _compute(self, predictions, references, labels=None, average="macro"):
        # zero_division=0: an intent never predicted scores 0, rather than a warning and a NaN.
        score = f1_score(references, predictions, labels=labels, average=average, zero_division=0)
        return {"f1": score.tolist() if average is None else float(score)}
