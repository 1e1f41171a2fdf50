"""Batch scoring: ``python -m train.score INPUT OUTPUT`` (``make score INPUT=… OUTPUT=…``).

Scores a CSV, JSONL or Parquet file with a ``text`` column with the packaged champion
(``model_store/intent_classifier.mar``) on Ray Data: the file is read in blocks, a pool of actors
each holding an :class:`~handlers.prediction.IntentPredictor` (the class TorchServe runs) scores
batches, and the rows are written back in input order with ``intent``, ``confidence``,
``model_version`` and ``error`` added. A row whose text the server would refuse keeps its place
with the reason in ``error``.

>>> from train.score import score_file
>>> score_file("prompts.csv", "scored.parquet", "model_store/intent_classifier.mar").rows
"""

from train.score.pipeline import DEFAULT_BATCH_SIZE, ScoreSummary, score_file
from train.score.scorer import BatchScorer, check_prompt
from train.score.tables import InputFileError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchScorer",
    "InputFileError",
    "ScoreSummary",
    "check_prompt",
    "score_file",
]
