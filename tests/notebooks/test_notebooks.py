"""The notebooks in notebooks/: committed without outputs, and each runs top to bottom against a
temp MLflow store holding a tiny trained and evaluated run (the champion)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from train.config import compose
from train.evaluate import evaluate_run
from train.fit import train
from contract import load_labels
from contract import project_root
from train.validate import validate_file, write_processed

NOTEBOOKS = project_root() / "notebooks"
KERNEL = "prompt-intent-tests"


@dataclass(frozen=True)
class Champion:
    """A tiny run in a temp store, trained, evaluated and promoted to champion."""

    tracking_uri: str
    run_id: str
    test_split: Path
    test_samples: int
    test_accuracy: float


@pytest.fixture(scope="module")
def tracked_champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    root = tmp_path_factory.mktemp("notebook_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    raw = project_root() / "data" / "raw" / "prompt_intents.csv"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        report, frame = validate_file(
            compose("validate", [f"paths.root_dir={root}", f"data.raw_path={raw}"])
        )
        assert report.success, report.message()
        processed = root / "processed"
        write_processed(frame, processed)
        _, produced = train(
            compose(
                "train",
                [
                    f"paths.root_dir={root}",
                    f"paths.output_dir={root / 'run'}",
                    f"data.processed_dir={processed}",
                    "trainer.enable_model_summary=false",
                    "model=deberta_v3_tiny",
                    # Two epochs, so the metric curves have more than one point.
                    "trainer.max_epochs=2",
                    "trainer.limit_train_batches=2",
                    "trainer.limit_val_batches=1",
                    "data.batch_size=8",
                ],
            )
        )
        result = evaluate_run(
            compose("evaluate", [f"paths.root_dir={root}", f"data.processed_dir={processed}"])
        )
    assert result["promoted"], "the only run in a fresh store must become the champion"
    return Champion(
        tracking_uri=uri,
        run_id=produced["run_id"],
        test_split=processed / "test",
        test_samples=result["test"]["samples"],
        test_accuracy=result["test"]["accuracy"],
    )


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data dir whose one kernel runs this interpreter, so a `python3` kernel installed
    elsewhere on the machine (without the project) is never picked."""
    from ipykernel.kernelspec import write_kernel_spec

    path = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(path / "kernels" / KERNEL, overrides={"display_name": KERNEL})
    return path


@pytest.fixture
def run_notebook(tracked_champion: Champion, jupyter_path: Path, tmp_path, monkeypatch):
    """Execute a notebook against the temp store; a failing cell fails the test with its
    traceback. Returns the executed notebook."""
    from nbclient import NotebookClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracked_champion.tracking_uri)
    monkeypatch.setenv("TEST_SPLIT_DIR", str(tracked_champion.test_split))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))

    def run(name: str) -> nbformat.NotebookNode:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        NotebookClient(
            notebook,
            kernel_name=KERNEL,
            timeout=600,
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
        return notebook

    return run


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def stdout(notebook: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in outputs(notebook) if o.get("name") == "stdout")


def rich(notebook: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o["data"][mime] for o in outputs(notebook) if mime in o.get("data", {})]


def test_committed_notebooks_have_no_outputs() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {p.name for p in paths} >= {"compare_runs.ipynb", "error_analysis.ipynb"}
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{path.name}, cell {index}: clear all outputs before committing"
                )


@pytest.mark.slow
def test_compare_runs_tables_the_run_plots_its_curves_and_names_the_champion(
    run_notebook, tracked_champion: Champion
) -> None:
    notebook = run_notebook("compare_runs.ipynb")
    run_id = tracked_champion.run_id

    tables = [t for t in rich(notebook, "text/html") if "val_macro_f1_best" in t]
    assert len(tables) == 1 and run_id in tables[0]
    printed = stdout(notebook)
    assert f"best run: {run_id}" in printed
    assert f"champion: version 1, run {run_id}" in printed
    assert len(rich(notebook, "image/png")) == 1, "expected the figure of metric curves"


@pytest.mark.slow
def test_error_analysis_reproduces_the_evaluation_and_slices_it_by_intent(
    run_notebook, tracked_champion: Champion
) -> None:
    notebook = run_notebook("error_analysis.ipynb")
    champion = tracked_champion

    printed = stdout(notebook)
    assert f"champion: version 1, run {champion.run_id}" in printed
    # Same model, same split, same scoring: the accuracy train.evaluate logged.
    assert f"{champion.test_samples} prompts, accuracy {champion.test_accuracy:.4f}" in printed
    wrong = round(champion.test_samples * (1 - champion.test_accuracy))
    assert f"{wrong} misclassified of {champion.test_samples}" in printed

    assert len(rich(notebook, "image/png")) == 2, "expected the confusion matrix and slice bars"
    assert "words_le_6" in "".join(rich(notebook, "text/html")), "expected the slice table"
    tables = rich(notebook, "text/html")
    assert any("confidence" in t and "predicted" in t for t in tables), "misclassified table"
    (slices,) = [t for t in tables if "precision" in t and "recall" in t]
    missing = [label for label in load_labels() if label not in slices]
    assert not missing, f"per-intent table lacks {missing}"
