"""Fixtures for the benchmark tests: the repository root importable, and processed splits."""

from __future__ import annotations

import sys

from contract import project_root

# `benchmarks` is a folder at the root, not an installed package: `python -m pytest` finds it
# through the working directory, a bare `pytest` through this.
if str(project_root()) not in sys.path:
    sys.path.insert(0, str(project_root()))
