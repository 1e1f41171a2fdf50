"""How an archive travels to the servers: the URL they download it from, and the check that the
bytes behind that URL are the archive that was packaged.

TorchServe downloads a registered URL into its model store under the URL's last path segment and
refuses a name the store already holds, so every version travels under its own file name,
``<model>-<version>.mar`` (:func:`versioned_name`). The MLflow artifact server
(``mlflow server --serve-artifacts``) serves a run's files with a plain GET at
``<server>/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>``
(:func:`mlflow_artifact_url`); ``python -m ops.publish`` puts the archive there.

    path = download_verified(url, expected_sha256, workdir)   # ArchiveRefused on any mismatch
    archive_version(path)                                      # "7"
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

MLFLOW_ARTIFACTS_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"
MLFLOW_ARTIFACTS_SCHEME = "mlflow-artifacts"


class ArchiveRefused(ValueError):
    """The archive URL or the bytes behind it cannot be deployed; the message says why."""


def versioned_name(model_name: str, version: str) -> str:
    """The file name a version travels under: ``intent_classifier-7.mar``."""
    return f"{model_name}-{version}.mar"


def archive_file_name(url: str) -> str:
    """The name TorchServe stores a downloaded archive under: the URL path's last segment, as
    written (Java's ``URL.getPath``, no percent-decoding)."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


def check_archive_url(url: str) -> None:
    """Refuse a URL TorchServe could not register as a downloaded .mar."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ArchiveRefused(
            f"the archive URL must be http(s)://host/.../<name>.mar, the artifact store the "
            f"servers download from; got {url!r}"
        )
    if parts.username or parts.password:
        raise ArchiveRefused("the archive URL must not carry credentials")
    name = archive_file_name(url)
    if not name.endswith(".mar") or ".." in url:
        raise ArchiveRefused(
            f"the archive URL must end in a file name ending in .mar (TorchServe names the "
            f"downloaded archive after it), without '..'; got {name!r}"
        )


def download_verified(
    url: str, expected_sha256: str, directory: str | os.PathLike[str], *, timeout: float = 300.0
) -> Path:
    """Download ``url`` once into ``directory`` and return the file, or raise
    :class:`ArchiveRefused` when the download fails or its sha256 differs from the expected one.

    Redirects are refused: TorchServe checks ``allowed_urls`` against the URL it is given, so the
    deploying side reads exactly that URL too.
    """
    check_archive_url(url)
    expected = expected_sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ArchiveRefused(f"expected sha256 {expected_sha256!r} is not 64 hex digits")
    target = Path(directory) / archive_file_name(url)
    digest = hashlib.sha256()
    try:
        with (
            httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response,
            target.open("wb") as out,
        ):
            if response.status_code != 200:
                raise ArchiveRefused(
                    f"could not download {url}: HTTP {response.status_code} "
                    f"{response.read()[:200].decode(errors='replace')}"
                )
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as err:
        raise ArchiveRefused(f"could not download {url}: {err}") from err
    if digest.hexdigest() != expected:
        raise ArchiveRefused(
            f"the archive at {url} has sha256 {digest.hexdigest()}, not the packaged "
            f"{expected}: it is not the archive that was built; nothing was registered"
        )
    return target


def archive_version(mar: str | os.PathLike[str]) -> str:
    """The ``modelVersion`` in an archive's MAR-INF/MANIFEST.json."""
    try:
        with zipfile.ZipFile(mar) as archive:
            manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
        return str(manifest["model"]["modelVersion"])
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as err:
        raise ArchiveRefused(f"{Path(mar).name} is not a TorchServe archive: {err!r}") from err


def mlflow_artifact_url(artifact_uri: str, path: str, base_url: str | None = None) -> str:
    """The plain-GET URL of ``path`` inside a run whose ``artifact_uri`` is
    ``mlflow-artifacts:/<experiment>/<run>/artifacts`` (or ``mlflow-artifacts://host:port/...``).

    ``base_url`` is the artifact server as the servers reach it (``http(s)://host[:port]``,
    any path prefix kept); None takes the host from ``artifact_uri`` over http. Credentials in
    ``base_url`` are dropped: the URL is handed to the servers and shown in reports.

    >>> mlflow_artifact_url("mlflow-artifacts:/1/ab12/artifacts", "torchserve/m-7.mar",
    ...                     "http://127.0.0.1:5000")
    'http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/ab12/artifacts/torchserve/m-7.mar'
    """
    uri = urlsplit(artifact_uri)
    if uri.scheme != MLFLOW_ARTIFACTS_SCHEME:
        raise ArchiveRefused(
            f"the run's artifacts live at {artifact_uri}, not behind an MLflow artifact server "
            "(mlflow server --serve-artifacts); serve the archive over http(s) yourself and pass "
            "its URL to ops.deploy --archive-url"
        )
    if base_url:
        base = urlsplit(base_url)
        if base.scheme not in {"http", "https"} or not base.hostname:
            raise ArchiveRefused(f"the artifact server URL must be http(s)://host; got {base_url}")
        netloc = base.hostname + (f":{base.port}" if base.port else "")
        prefix = urlunsplit((base.scheme, netloc, base.path.rstrip("/"), "", ""))
    elif uri.netloc:
        prefix = f"http://{uri.netloc}"
    else:
        raise ArchiveRefused(
            f"{artifact_uri} names no host: pass the artifact server's http(s) URL "
            "(--artifact-url, or an http(s) MLFLOW_TRACKING_URI)"
        )
    return f"{prefix}{MLFLOW_ARTIFACTS_ROUTE}/{uri.path.strip('/')}/{path.strip('/')}"
