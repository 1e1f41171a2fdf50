"""Which project modules a piece of code can import, read from the source (nothing is imported).

Both the archive's file list (``train.package``: the handler and every project module it reaches)
and the DVC stages' code deps (checked by the test suite) come from here, so neither is a list
kept by hand. Every ``import`` counts, also one inside a function.

>>> sorted(p.name for p in module_closure("handlers.intent_handler"))  # doctest: +SKIP
['__init__.py', ..., 'intent_handler.py', 'payloads.py', 'prediction.py', ...]
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

# The project's import packages; everything else is a third-party or standard module.
PROJECT_PACKAGES = frozenset(
    {"api", "contract", "handlers", "ops", "serving_client", "techniques", "train"}
)


def module_file(name: str) -> Path | None:
    """The source file of a project module (a package's ``__init__.py``), None for other code."""
    if name.split(".", 1)[0] not in PROJECT_PACKAGES:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin).resolve()


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name ``path`` (the source of ``module``) imports, relative ones resolved;
    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def module_closure(*entries: str) -> set[Path]:
    """Source files of ``entries`` and of every project module they import, transitively,
    with the ``__init__.py`` of each package on the way (Python runs those too)."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        files.add(path)
        todo.extend(_parents(name))
        todo.extend(imported_names(path, name))
    return files


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]
