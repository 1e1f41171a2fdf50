"""``python -m train.package``: pack the champion model as a TorchServe archive.

Builds ``model_store/intent_classifier.mar`` (weights, tokenizer, label map, the handler and
``conf/serve/model-config.yaml``) with torch-model-archiver, writes
``model_store/intent_classifier.json`` (version, run id, sha256, metrics, serving backend) and
logs the archive to the model's MLflow run. The configured ``handler.backend`` is exported and
parity-checked on the validation and test splits first (``train.export.gate_backend``): the
archive carries it only when it passed, and serves ``torch`` otherwise, with the reason logged.
The archive's version is the registry version, so TorchServe answers it at
``/predictions/intent_classifier/<version>`` too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml

from contract import conf_dir, project_root, sha256_file
from contract.cli import run
from train.code_deps import module_closure, module_file
from train.export import gate_backend, servable_config
from train.registry import champion, version_for_run
from train.tracking import CHAMPION_ALIAS, MODEL_ARTIFACT, REGISTERED_MODEL, tracking_uri

log = logging.getLogger(__name__)

MODEL_STORE = project_root() / "model_store"
MODEL_CONFIG = conf_dir() / "serve" / "model-config.yaml"
ARCHIVE_ARTIFACT = "torchserve"  # run artifact folder the .mar is logged under
PROCESSED_DIR = project_root() / "data" / "processed"  # its held-out splits check the backend
HANDLER_MODULE = "handlers.intent_handler"


@dataclass(frozen=True)
class PackagedModel:
    """What ``intent_classifier.json`` records about a built archive."""

    model_name: str
    version: str
    run_id: str
    archive: str
    sha256: str
    metrics: dict[str, float]
    backend: dict[str, Any] | None = None  # served backend, the one asked for, parity, reason


def build_archive(
    model_dir: str | os.PathLike[str],
    export_dir: str | os.PathLike[str],
    *,
    version: str,
    model_name: str = REGISTERED_MODEL,
    model_config: dict[str, Any] | None = None,
) -> Path:
    """Pack a ``save_pretrained`` directory into ``export_dir/<model_name>.mar`` and return it.

    ``model_config`` (default: conf/serve/model-config.yaml) is packed as the archive's
    model-config.yaml, its ``handler.max_length`` set to the length the model was trained with.
    The handler travels with every project module it imports (``train.code_deps``), in their
    packages. The archive replaces any previous one in a single rename.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{model_dir} has no model.safetensors; save the model with save_pretrained()"
        )
    if model_config is None:
        model_config = yaml.safe_load(MODEL_CONFIG.read_text(encoding="utf-8"))
    model_config = servable_config(with_trained_max_length(model_config, model_dir), model_dir)
    model_subdir = model_config["handler"].get("model_dir", "model")
    handler_file = module_file(HANDLER_MODULE)
    if handler_file is None:
        raise ModuleNotFoundError(f"{HANDLER_MODULE} is not importable: pip install -e .")
    src = handler_file.parents[1]
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="package-", dir=export_dir) as staging_name:
        staging = Path(staging_name)
        # torch-model-archiver copies a folder's contents to the archive root, so this folder's
        # subfolders become the archive's model/ and the packages (handlers/, contract/).
        payload = staging / "payload"
        shutil.copytree(model_dir, payload / model_subdir)
        for source in sorted(module_closure(HANDLER_MODULE)):
            target = payload / source.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        config_file = staging / "model-config.yaml"
        config_file.write_text(yaml.safe_dump(model_config, sort_keys=False), encoding="utf-8")
        (staging / "tmp").mkdir()
        built = staging / "out"
        built.mkdir()
        command = [
            sys.executable, "-m", "model_archiver.model_packaging",
            "--model-name", model_name,
            "--version", version,
            "--handler", str(handler_file),
            "--extra-files", str(payload),
            "--config-file", str(config_file),
            "--export-path", str(built),
        ]  # fmt: skip
        # The archiver stages files in $TMPDIR/<model name>; a private TMPDIR keeps two builds
        # of the same model name from sharing that folder.
        env = {**os.environ, "TMPDIR": str(staging / "tmp")}
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"torch-model-archiver failed:\n{result.stderr or result.stdout}")
        archive = export_dir / f"{model_name}.mar"
        os.replace(built / f"{model_name}.mar", archive)
    return archive


def with_trained_max_length(model_config: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """``model_config`` with ``handler.max_length`` set to the model's trained token length
    (``model_max_length`` in its tokenizer config, which training writes from
    ``data.max_length``). One knob: serving reads what training used."""
    handler = dict(model_config.get("handler") or {})
    tokenizer_config = model_dir / "tokenizer_config.json"
    trained = None
    if tokenizer_config.is_file():
        trained = json.loads(tokenizer_config.read_text(encoding="utf-8")).get("model_max_length")
    if isinstance(trained, int) and 1 < trained < 1_000_000:
        if handler.get("max_length") not in (None, trained):
            raise ValueError(
                f"model-config.yaml sets handler.max_length={handler['max_length']}, but the "
                f"model was trained with {trained} tokens; drop the setting"
            )
        handler["max_length"] = trained
    return {**model_config, "handler": handler}


def resolve_run(client: mlflow.MlflowClient, run_id: str | None) -> tuple[str, str]:
    """(run id, registry version) of ``run_id``, or of the champion when it is None."""
    if run_id is None:
        version = champion(client)
        if version is None:
            raise LookupError(
                f"{REGISTERED_MODEL} has no {CHAMPION_ALIAS} alias in {tracking_uri()}: train and "
                "evaluate a model first (dvc repro evaluate), or pass --run-id"
            )
        return version.run_id, str(version.version)
    try:
        return run_id, str(version_for_run(client, run_id).version)
    except LookupError:
        # An unregistered run still packages; its version names the run instead.
        log.warning("run %s has no registered version; using version run-%s", run_id, run_id[:8])
        return run_id, f"run-{run_id[:8]}"


def package(
    run_id: str | None = None,
    *,
    model_store: str | os.PathLike[str] = MODEL_STORE,
    config: str | os.PathLike[str] = MODEL_CONFIG,
    model_name: str = REGISTERED_MODEL,
    processed_dir: str | os.PathLike[str] = PROCESSED_DIR,
) -> PackagedModel:
    """Build the archive of ``run_id`` (default: the champion), write its JSON and log it."""
    client = mlflow.MlflowClient(tracking_uri())
    run_id, version = resolve_run(client, run_id)
    model_config = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    model_store = Path(model_store)
    with tempfile.TemporaryDirectory(prefix="hf-model-") as download:
        model_dir = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=MODEL_ARTIFACT,
            dst_path=download,
            tracking_uri=tracking_uri(),
        )
        model_config, choice = gate_backend(model_dir, model_config, processed_dir)
        archive = build_archive(
            model_dir,
            model_store,
            version=version,
            model_name=model_name,
            model_config=model_config,
        )
    packaged = PackagedModel(
        model_name=model_name,
        version=version,
        run_id=run_id,
        archive=archive.name,
        sha256=sha256_file(archive),
        metrics=dict(sorted(client.get_run(run_id).data.metrics.items())),
        backend=choice.to_dict(),
    )
    (model_store / f"{model_name}.json").write_text(
        json.dumps(asdict(packaged), indent=2) + "\n", encoding="utf-8"
    )
    client.log_artifact(run_id, str(archive), ARCHIVE_ARTIFACT)
    return packaged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.package", description=__doc__)
    parser.add_argument("--run-id", help=f"MLflow run to package (default: the {CHAMPION_ALIAS})")
    parser.add_argument("--model-store", type=Path, default=MODEL_STORE, help="output folder")
    parser.add_argument("--config", type=Path, default=MODEL_CONFIG, help="model-config.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        packaged = package(args.run_id, model_store=args.model_store, config=args.config)
    except (LookupError, FileNotFoundError) as err:
        print(f"package: {err}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(packaged), indent=2))
    return 0


if __name__ == "__main__":
    run(main)
