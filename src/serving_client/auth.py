"""The tokens the client sends: read once, checked, re-read when refused, kept out of the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from contract import read_key
from serving_client.errors import ConfigurationError
from serving_client.redaction import SECRET_FILTER
from serving_client.settings import ClientSettings

logger = logging.getLogger(__name__)

Headers = list[tuple[str, str]]


class Credentials:
    """The headers of inference requests (with the inference token) and of management requests.

    Raises ``ConfigurationError`` when a token cannot be read or cannot go in a header.
    """

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._inference_key = _checked_key(settings.inference_key, "inference")
        self.inference_headers = _headers(self._inference_key, json_body=True)
        self.ping_headers = _headers(self._inference_key, json_body=False)

    def management_headers(self) -> Headers:
        # Read at each call: model_info() is rare and the key file may have been rewritten.
        return _headers(_checked_key(self._settings.management_key, "management"), json_body=False)

    def refresh(self) -> bool:
        """Re-read the key file after a refused token; True when the inference key changed."""
        key_file = self._settings.key_file()
        if self._settings.token is not None or key_file is None:
            return False
        try:
            key = _checked_key(lambda: read_key(key_file, "inference"), "inference")
        except ConfigurationError as exc:
            logger.warning("cannot re-read the TorchServe key file: %s", exc)
            return False
        if key == self._inference_key:
            return False
        logger.info("TorchServe inference key changed in %s; retrying", key_file)
        self._inference_key = key
        self.inference_headers = _headers(key, json_body=True)
        self.ping_headers = _headers(key, json_body=False)
        return True


def _checked_key(read: Callable[[], str | None], kind: str) -> str | None:
    """The key ``read`` returns, checked to fit in a header and registered for redaction."""
    try:
        key = read()
    except ValueError as exc:  # read_key's messages name the file, never a key
        raise ConfigurationError(str(exc)) from None
    if key is None:
        return None
    if not (key.isascii() and key.isprintable()):
        # Sent anyway, the transport would refuse it with an error that quotes the header.
        raise ConfigurationError(
            f"the TorchServe {kind} token holds a character an HTTP header cannot carry (a "
            "newline, a control or a non-ASCII character); check TORCHSERVE_TOKEN, "
            "TORCHSERVE_MANAGEMENT_TOKEN or the key file"
        )
    SECRET_FILTER.add(key)
    return key


def _headers(key: str | None, *, json_body: bool) -> Headers:
    headers = [("Content-Type", "application/json")] if json_body else []
    if key:
        headers.append(("Authorization", f"Bearer {key}"))
    return headers
