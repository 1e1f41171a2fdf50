"""Where the project lives: one answer for every package.

``PROJECT_ROOT`` wins when set. Otherwise the checkout this package was imported from (an
editable install), else the nearest folder at or above the working directory that holds
``conf/intents.yaml`` (a non-editable install run inside a checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT_ENV = "PROJECT_ROOT"
_MARKER = Path("conf") / "intents.yaml"
# A wheel carries the consumer side's configuration (the labels and conf/techniques) here.
_PACKAGED_CONF = Path(__file__).resolve().parent / "conf"


def project_root() -> Path:
    """The project's root folder; ``LookupError`` when no checkout can be found."""
    override = os.environ.get(PROJECT_ROOT_ENV)
    if override:
        return Path(override).resolve()
    source = Path(__file__).resolve().parents[2]
    if (source / _MARKER).is_file():
        return source
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / _MARKER).is_file():
            return folder
    raise LookupError(
        f"cannot find the project root (a folder with {_MARKER}); run inside a checkout or set "
        f"{PROJECT_ROOT_ENV}"
    )


def conf_dir() -> Path:
    """The ``conf/`` folder: the checkout's, or the copy an installed wheel carries."""
    try:
        return project_root() / "conf"
    except LookupError:
        if (_PACKAGED_CONF / "intents.yaml").is_file():
            return _PACKAGED_CONF
        raise
