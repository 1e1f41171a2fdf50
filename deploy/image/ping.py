"""Health check of the TorchServe container: exit 0 when ``/ping`` answers Healthy.

    python /opt/serving/ping.py            # liveness, startup, Docker HEALTHCHECK
    python /opt/serving/ping.py --renew    # readiness: also renews keys about to expire

TorchServe 0.12 wants ``Authorization: Bearer <inference key>`` even on ``/ping``, and it makes
its keys itself at start, into ``key_file.json`` in its working directory; nothing can hand it
keys. So the probe reads the key from that file (``$TORCHSERVE_KEY_FILE``, default
``key_file.json`` in the working directory).

Keys expire after ``token_expiration_min``. Without renewal every probe of a pod would fail at
that moment and all pods started together would restart together. With ``--renew``, a key that
expires within ``--renew-within`` seconds is replaced through TorchServe's ``/token`` API
(authorised by the file's API key, on the management port); TorchServe rewrites the key file and
clients reading it pick up the new key on their next refusal. Standard library only: it runs in
the image's interpreter, once per probe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

KEY_FILE_ENV = "TORCHSERVE_KEY_FILE"


def read_keys(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def expires_soon(entry: dict, within: timedelta, now: datetime) -> bool:
    """Whether a key file entry (``{"key", "expiration time"}``) expires before ``now + within``."""
    stamp = entry.get("expiration time")
    if not stamp:
        return False
    return datetime.fromisoformat(stamp) <= now + within


def renew(keys: dict, management_url: str, within: timedelta, timeout: float) -> list[str]:
    """Ask TorchServe for new keys of each kind that expires soon; returns the kinds renewed."""
    now = datetime.now(UTC)
    renewed = []
    for kind in ("inference", "management"):
        if expires_soon(keys.get(kind, {}), within, now):
            request = urllib.request.Request(
                f"{management_url}/token?type={kind}",
                headers={"Authorization": f"Bearer {keys['API']['key']}"},
            )
            with urllib.request.urlopen(request, timeout=timeout):
                renewed.append(kind)
    return renewed


def ping(inference_url: str, key: str, timeout: float) -> str:
    """TorchServe's health status (``Healthy`` when its workers are up)."""
    request = urllib.request.Request(
        f"{inference_url}/ping", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["status"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inference-url", default="http://127.0.0.1:8080")
    parser.add_argument("--management-url", default="http://127.0.0.1:8081")
    parser.add_argument(
        "--key-file", type=Path, default=os.environ.get(KEY_FILE_ENV, "key_file.json")
    )
    parser.add_argument("--renew", action="store_true", help="renew keys that expire soon")
    parser.add_argument("--renew-within", type=float, default=600.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds per request")
    args = parser.parse_args(argv)

    try:
        keys = read_keys(args.key_file)
        if args.renew and renew(
            keys, args.management_url, timedelta(seconds=args.renew_within), args.timeout
        ):
            keys = read_keys(args.key_file)
        status = ping(args.inference_url, keys["inference"]["key"], args.timeout)
    except FileNotFoundError:
        print(f"no key file at {args.key_file}: TorchServe has not started", file=sys.stderr)
        return 1
    except urllib.error.HTTPError as err:
        print(f"TorchServe answered {err.code}: {err.read()[:200]!r}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as err:
        print(f"TorchServe did not answer the ping: {err!r}", file=sys.stderr)
        return 1
    if status != "Healthy":
        print(f"TorchServe says {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
