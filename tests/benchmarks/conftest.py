"""Fixtures for the benchmark tests: the repository root importable, and processed splits."""

from __future__ import annotations

import sys

from train.paths import PROJECT_ROOT

# `benchmarks` is a folder at the root, not an installed package: `python -m pytest` finds it
# through the working directory, a bare `pytest` through this.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
