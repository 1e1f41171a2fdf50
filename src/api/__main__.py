"""``python -m api``: serve the intent API with uvicorn on ``INTENT_API_HOST:INTENT_API_PORT``.

Settings come from the environment: ``api.settings``, and ``serving_client.settings`` for
TorchServe.
Exit status 2 when they do not validate; the message says which variable to fix.
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from api.app import create_app
from api.logs import configure_logging
from api.settings import ENV_VARS, KEY_FILE_ENV, KEYS_ENV, ApiSettings
from contract.cli import run
from serving_client import ClientSettings

logger = logging.getLogger("api")


def main(argv: list[str] | None = None) -> int:
    variables = ", ".join([*ENV_VARS, KEYS_ENV, KEY_FILE_ENV])
    argparse.ArgumentParser(
        prog="python -m api", description=__doc__, epilog=f"Variables: {variables}."
    ).parse_args(argv)
    try:
        settings = ApiSettings.from_env()
    except ValueError as exc:
        print(f"api: {exc}", file=sys.stderr)
        return 2
    try:
        ClientSettings.from_env()  # the TorchServe side, checked now rather than at start-up
    except ValueError as exc:
        print(f"api: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, secrets=settings.keys())
    app = create_app(settings)
    logger.info("intent API on http://%s:%d (docs at /docs)", settings.host, settings.port)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # configure_logging's JSON lines
        access_log=False,  # the API logs each request itself, with its request id
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    run(main)
