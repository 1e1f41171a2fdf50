"""Where the project lives on disk, so modules agree on one root without relying on the cwd."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("PROJECT_ROOT", Path(__file__).resolve().parents[2]))
CONF_DIR = PROJECT_ROOT / "conf"
