"""TorchServe's ``config.properties``: reading one, and the five ports a server listens on."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Ports:
    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int

    @classmethod
    def free(cls) -> Ports:
        """Five ports free on 127.0.0.1 right now (held open together so they differ)."""
        sockets = [socket.socket() for _ in range(5)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return cls(*(sock.getsockname()[1] for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> Ports:
        """The ports a config.properties names (TorchServe's defaults where it names none)."""

        def port(key: str, default: int) -> int:
            value = props.get(key)
            if value is None:
                return default
            return int(urlsplit(value).port or default) if "://" in value else int(value)

        return cls(
            inference=port("inference_address", 8080),
            management=port("management_address", 8081),
            metrics=port("metrics_address", 8082),
            grpc_inference=port("grpc_inference_port", 7070),
            grpc_management=port("grpc_management_port", 7071),
        )


def read_properties(path: Path) -> dict[str, str]:
    """``key=value`` lines of a Java properties file, comments skipped."""
    props = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props
