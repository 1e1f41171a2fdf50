"""The servers a deploy rolls onto, and what it asks of each one's management and inference APIs.

A fleet is one or more TorchServes, each named by its management and inference URLs, on the
command line (``--server http://ts-a:8081,http://ts-a:8080``, repeated) or in YAML
(``--fleet fleet.yaml``, ``-`` for stdin)::

    servers:
      - management_url: http://ts-a:8081
        inference_url: http://ts-a:8080    # default: the management port minus one
        key_file: /srv/ts-a/key_file.json  # optional: this server's TorchServe key file

The first server is the canary. TorchServe gives each server its own keys: a server's
``key_file`` (or ``--key-file``, once per server, in order) wins; otherwise
``TORCHSERVE_MANAGEMENT_TOKEN`` / ``TORCHSERVE_INFERENCE_TOKEN`` hold one key for every server,
or one per server, comma-separated, in fleet order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from contract import read_key

MANAGEMENT_TOKEN_ENV = "TORCHSERVE_MANAGEMENT_TOKEN"
INFERENCE_TOKEN_ENV = "TORCHSERVE_INFERENCE_TOKEN"


class FleetError(ValueError):
    """The fleet or its keys are described wrongly; nothing was contacted."""


@dataclass(frozen=True)
class ServerAddress:
    management_url: str
    inference_url: str
    key_file: Path | None = None

    @classmethod
    def parse(cls, spec: str, key_file: Path | None = None) -> ServerAddress:
        """``MANAGEMENT_URL[,INFERENCE_URL]``; the inference URL defaults to the management
        port minus one (TorchServe's 8081/8080)."""
        management, _, inference = (part.strip() for part in spec.partition(","))
        for url in filter(None, (management, inference)):
            if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).hostname:
                raise FleetError(f"server {spec!r}: {url!r} is not an http(s) URL")
        if not management:
            raise FleetError(f"server {spec!r} names no management URL")
        return cls(management, inference or default_inference_url(management), key_file)


def default_inference_url(management_url: str) -> str:
    parts = urlsplit(management_url)
    port = (parts.port or 8081) - 1
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def load_fleet(text: str) -> list[ServerAddress]:
    """The servers of a fleet YAML document (see the module docstring)."""
    document = yaml.safe_load(text)
    entries = document.get("servers") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise FleetError("the fleet file needs a non-empty `servers:` list")
    servers = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("management_url"):
            raise FleetError(f"fleet entry {entry!r} needs a management_url")
        unknown = set(entry) - {"management_url", "inference_url", "key_file"}
        if unknown:
            raise FleetError(f"fleet entry {entry['management_url']}: unknown keys {unknown}")
        spec = ",".join(filter(None, (entry["management_url"], entry.get("inference_url"))))
        key_file = Path(entry["key_file"]) if entry.get("key_file") else None
        servers.append(ServerAddress.parse(spec, key_file))
    return servers


def check_fleet(servers: Sequence[ServerAddress]) -> None:
    if not servers:
        raise FleetError("no server to deploy to: pass --server or --fleet")
    names = [s.management_url.rstrip("/") for s in servers]
    if len(set(names)) != len(names):
        raise FleetError(f"a server is named twice: {names}")


def fleet_keys(
    servers: Sequence[ServerAddress], environ: Mapping[str, str] | None = None
) -> list[tuple[str | None, str | None]]:
    """(management key, inference key) for each server; see the module docstring."""
    environ = os.environ if environ is None else environ
    from_env = {
        name: _split_keys(environ.get(name, ""), name, len(servers))
        for name in (MANAGEMENT_TOKEN_ENV, INFERENCE_TOKEN_ENV)
    }
    keys = []
    for i, server in enumerate(servers):
        if server.key_file is not None:
            try:
                file = server.key_file
                keys.append((read_key(file, "management"), read_key(file, "inference")))
            except ValueError as err:
                raise FleetError(str(err)) from None
        else:
            keys.append((from_env[MANAGEMENT_TOKEN_ENV][i], from_env[INFERENCE_TOKEN_ENV][i]))
    return keys


def _split_keys(value: str, name: str, count: int) -> list[str | None]:
    keys = [key.strip() for key in value.split(",")] if value.strip() else []
    if not keys:
        return [None] * count
    if len(keys) == 1:
        return keys * count
    if len(keys) != count or not all(keys):
        # Never echo the value: it is a secret.
        raise FleetError(
            f"{name} holds {len(keys)} comma-separated keys for {count} server(s): give one key "
            "for all, or one per server in fleet order"
        )
    return list(keys)
