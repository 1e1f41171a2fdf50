"""The library is pure functions over text: importing it, listing, and enhancing with a given
intent load neither the training code, the serving client, nor a model stack."""

from __future__ import annotations

import doctest
import subprocess
import sys

import techniques

FORBIDDEN = ("train", "serving_client", "handlers", "torch", "transformers", "httpx", "aiohttp")


def test_import_and_offline_cli_pull_in_no_model_or_network_code() -> None:
    script = (
        "import sys\n"
        "from techniques.__main__ import main\n"
        "assert main(['enhance', 'Is 91 prime?', '--intent', 'reasoning']) == 0\n"
        "assert main(['list']) == 0\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r}))\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "LOADED []" in done.stderr


def test_package_docstring_example_holds() -> None:
    failures, tried = doctest.testmod(techniques, verbose=False)
    assert tried > 0 and failures == 0
