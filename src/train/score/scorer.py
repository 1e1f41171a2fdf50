"""The Ray actor that scores batches: one :class:`~handlers.prediction.IntentPredictor` per actor,
the serving path's input rule per row, a result or an error for every row."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa

from contract import MAX_BODY_BYTES, InvalidText, check_text
from train.score.tables import TEXT, TEXT_ERROR
from train.score.writers import ADDED


def check_prompt(text: object) -> str:
    """``text`` when TorchServe would classify it, else InvalidText with the message a client
    gets: the contract's rule, and the handler's size limit."""
    text = check_text(text)
    size = len(text.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise InvalidText(
            f'"text" is {size} bytes; the limit is {MAX_BODY_BYTES}: shorten the text'
        )
    return text


class BatchScorer:
    """Callable class for ``Dataset.map_batches``: Arrow batch in, the same rows out with
    ``intent``, ``confidence``, ``low_confidence``, ``model_version`` and ``error`` added.
    ``archive`` is a path, or the archive's bytes (or a Ray ObjectRef to them) where workers
    cannot see the driver's files. A call may take many rows: they are scored ``batch_size`` at
    a time, shortest first.

    >>> scorer = BatchScorer("model_store/intent_classifier.mar", threads=1)
    >>> scorer(pa.table({"text": ["Translate 'hi' into Welsh", "   "]}))["error"]
    [null, '"text" has no visible character: send the prompt to classify']
    """

    def __init__(
        self, archive: str | bytes | Any, threads: int | None = None, batch_size: int = 64
    ) -> None:
        import torch

        from handlers.prediction import IntentPredictor

        if threads:
            # One actor per core share: more threads than its share only fight the others.
            torch.set_num_threads(threads)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if not isinstance(archive, str):  # sent through the object store to a cluster's worker
            import ray

            archive = _saved(ray.get(archive) if isinstance(archive, ray.ObjectRef) else archive)
        self.predictor = IntentPredictor.from_archive(archive)
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        texts = batch.column(TEXT).to_pylist()
        known = (
            batch.column(TEXT_ERROR).to_pylist() if TEXT_ERROR in batch.column_names else [None] * n
        )
        errors: list[str | None] = list(known)
        valid, rows = [], []
        for row, (text, problem) in enumerate(zip(texts, known, strict=True)):
            if problem is not None:
                continue
            try:
                valid.append(check_prompt(text))
                rows.append(row)
            except InvalidText as err:
                errors[row] = str(err)
        predicted = ("intent", "confidence", "low_confidence")
        added: dict[str, list] = {name: [None] * n for name in predicted}
        for row, result in zip(rows, self._predict(valid), strict=True):
            for name in predicted:
                added[name][row] = result.get(name)
        added["model_version"] = [self.predictor.model_version] * n
        added["error"] = errors
        for field in ADDED:
            array = pa.array(added[field.name], type=field.type)
            if field.name in batch.column_names:
                batch = batch.set_column(batch.column_names.index(field.name), field.name, array)
            else:
                batch = batch.append_column(field, array)
        return batch

    def _predict(self, texts: list[str]) -> list[dict]:
        """Predictions in ``texts``' order, computed in ``batch_size`` batches of similar length:
        a batch pads to its longest prompt, so sorting first cuts the padding (the training
        side groups its batches the same way)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[dict] = [{}] * len(texts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, result in zip(
                chunk, self.predictor.predict([texts[i] for i in chunk]), strict=True
            ):
                results[i] = result
        return results


def _saved(archive: bytes) -> str:
    """The archive's bytes as a file on this worker, one per content hash."""
    import hashlib
    import tempfile
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / f"intent-{hashlib.sha256(archive).hexdigest()[:16]}.mar"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(archive)
        partial.replace(path)
    return str(path)
