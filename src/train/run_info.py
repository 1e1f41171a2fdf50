"""What a training run records about its inputs: flattened config, git state, data fingerprint."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path

import datasets

from contract import project_root
from train.dataset import SPLITS


def flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """``{"model": {"optimizer": {"lr": 1e-4}}}`` -> ``{"model/optimizer/lr": "0.0001"}``."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = str(value)
    return flat


def git_state(root: Path | None = None) -> dict[str, str]:
    """The commit checked out and whether tracked files have changes ("unknown" outside git)."""
    root = project_root() if root is None else root

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def data_fingerprint(processed_dir: str | Path) -> str:
    """sha256 over every split's (text, label) rows in order: equal data gives an equal hash,
    whatever the file layout on disk."""
    digest = hashlib.sha256()
    for name in SPLITS:
        ds = datasets.load_from_disk(str(Path(processed_dir) / name))
        digest.update(name.encode())
        for text, label in zip(ds["text"], ds["label"], strict=True):
            digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()
