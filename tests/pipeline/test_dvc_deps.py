"""Every DVC stage depends on exactly the project modules its command can import: derived from the
source (imports inside functions too) and from the Hydra ``_target_`` classes of the configs the
stage reads, so a change to any of them reruns the stage and no stale entry lingers."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from contract import project_root
from train.code_deps import PROJECT_PACKAGES, module_closure

ROOT = project_root()
SRC = ROOT / "src"
# Code a stage reads without importing it: the packaging stage packs the handler into the archive.
PACKED = {"package": ["handlers.intent_handler"]}


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def _entry_modules(stage: dict) -> list[str]:
    """``python -m X`` of the stage's command, and the project classes its configs instantiate."""
    words = shlex.split(stage["cmd"])
    module = words[words.index("-m") + 1]
    entries = [module, f"{module}.__main__"]
    for dep in stage.get("deps", []) + [next(iter(p)) for p in stage.get("params", [])]:
        path = ROOT / str(dep).split(":")[0]
        if path.suffix == ".yaml" and path.is_file():
            entries.extend(_targets(yaml.safe_load(path.read_text(encoding="utf-8"))))
    return entries


def _targets(node: object) -> list[str]:
    if isinstance(node, dict):
        found = []
        target = node.get("_target_")
        if isinstance(target, str) and target.split(".", 1)[0] in PROJECT_PACKAGES:
            found.append(target.rpartition(".")[0])
        for value in node.values():
            found.extend(_targets(value))
        return found
    if isinstance(node, list):
        return [t for item in node for t in _targets(item)]
    return []


def expected_code_deps(name: str, stage: dict) -> set[str]:
    files = module_closure(*_entry_modules(stage), *PACKED.get(name, []))
    return {path.relative_to(ROOT).as_posix() for path in files}


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_depends_on_exactly_the_code_it_imports(name: str) -> None:
    stage = _stages()[name]
    listed = {str(d) for d in stage.get("deps", []) if str(d).endswith(".py")}
    expected = expected_code_deps(name, stage)
    missing, stale = sorted(expected - listed), sorted(listed - expected)
    assert not missing and not stale, (
        f"dvc.yaml stage {name!r}: add {missing}, remove {stale}; its deps should list:\n"
        + "\n".join(f"      - {dep}" for dep in sorted(expected))
    )


def test_every_listed_dependency_exists() -> None:
    produced = {
        str(next(iter(out)) if isinstance(out, dict) else out)
        for stage in _stages().values()
        for kind in ("outs", "metrics")
        for out in stage.get(kind, [])
    }
    for name, stage in _stages().items():
        for dep in map(str, stage.get("deps", [])):
            if dep not in produced:
                assert (ROOT / dep).exists(), f"stage {name}: dependency {dep} does not exist"


def test_a_function_level_import_is_found(tmp_path: Path) -> None:
    # train/__main__ imports train.fit inside main(); the closure must still reach it.
    files = {p.relative_to(SRC).as_posix() for p in module_closure("train.__main__")}
    assert "train/fit.py" in files
    assert "train/module.py" not in files  # reached only through conf's _target_
