"""TorchServe's token keys: where ``make serve`` leaves them and how to read them.

With token authorisation on, TorchServe writes ``key_file.json`` (``{"inference": {"key": …},
"management": {"key": …}, …}``) into its working directory; ``make serve`` runs it in
``.torchserve/`` of the checkout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from contract.paths import project_root

KEY_FILE_ENV = "TORCHSERVE_KEY_FILE"
STATE_DIR = ".torchserve"
KEY_FILE_NAME = "key_file.json"

KeyKind = Literal["inference", "management"]


def default_key_file() -> Path | None:
    """``.torchserve/key_file.json`` of the checkout (None outside one)."""
    try:
        return project_root() / STATE_DIR / KEY_FILE_NAME
    except LookupError:
        return None


def find_key_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$TORCHSERVE_KEY_FILE`` when set, else the key file ``make serve`` wrote, if it exists."""
    environ = os.environ if environ is None else environ
    if environ.get(KEY_FILE_ENV):
        return Path(environ[KEY_FILE_ENV])
    default = default_key_file()
    return default if default is not None and default.is_file() else None


def read_key(path: str | os.PathLike[str], kind: KeyKind) -> str:
    """The ``kind`` key of a TorchServe key file; ``ValueError`` saying what is wrong.

    The message never holds a key, only the file's path.
    """
    try:
        keys = json.loads(Path(path).read_text(encoding="utf-8"))
        key = keys[kind]["key"]
    except FileNotFoundError:
        raise ValueError(
            f"TorchServe key file {path} does not exist; TorchServe writes key_file.json in its "
            "working directory when token authorization is on"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            f"TorchServe key file {path} has no {kind!r} key; expected TorchServe's key_file.json"
        ) from None
    if not isinstance(key, str) or not key:
        raise ValueError(f"TorchServe key file {path}: the {kind!r} key is empty")
    return key
