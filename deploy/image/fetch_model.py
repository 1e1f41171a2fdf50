"""Download the model archive into the model store; keep it only if its sha256 is the expected one.

Run by the Kubernetes init container before TorchServe starts:

    MODEL_URL=https://mlflow.example/api/2.0/mlflow-artifacts/artifacts/<run path>/<file>.mar \\
    MODEL_SHA256=<64 hex digits, from model_store/intent_classifier.json> \\
    python /opt/serving/fetch_model.py

``MODEL_STORE`` (default ``/srv/model-store``) and ``MODEL_FILE`` (default
``intent_classifier.mar``) say where the archive goes. Exits 1, leaving no archive behind, when
the download fails or the digest differs: the pod then never starts serving a model nobody chose.
Standard library only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The archive could not be fetched or is not the expected one; the message says which."""


def fetch(url: str, expected_sha256: str, destination: Path, timeout: float = 60.0) -> str:
    """Download ``url`` to ``destination`` if its sha256 is ``expected_sha256``; return it."""
    expected = expected_sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise FetchError(
            f"MODEL_SHA256 {expected_sha256!r} is not 64 hex digits: set it to the sha256 in "
            "model_store/intent_classifier.json"
        )
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"MODEL_URL {url!r} is not an http(s) URL")
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # Written beside the destination and renamed only once verified, so a failed or tampered
    # download never sits in the model store under the name TorchServe loads.
    with tempfile.NamedTemporaryFile(dir=destination.parent, suffix=".part", delete=False) as part:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    part.write(chunk)
        except (OSError, http.client.HTTPException) as err:
            Path(part.name).unlink(missing_ok=True)
            raise FetchError(f"could not download {url}: {err}") from err
    actual = digest.hexdigest()
    if actual != expected:
        Path(part.name).unlink(missing_ok=True)
        raise FetchError(f"sha256 of {url} is {actual}, expected {expected}: archive refused")
    shutil.move(part.name, destination)
    destination.chmod(0o444)
    return actual


def main() -> int:
    try:
        url, expected = os.environ["MODEL_URL"], os.environ["MODEL_SHA256"]
    except KeyError as err:
        print(f"{err.args[0]} is not set", file=sys.stderr)
        return 1
    store = Path(os.environ.get("MODEL_STORE", "/srv/model-store"))
    destination = store / os.environ.get("MODEL_FILE", "intent_classifier.mar")
    try:
        digest = fetch(url, expected, destination)
    except FetchError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{destination}: sha256 {digest} verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
