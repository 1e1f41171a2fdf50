"""API keys: who may call the ``/v1`` endpoints.

A caller sends ``Authorization: Bearer <key>``. The presented key is compared with every
configured key, each time all of them, with ``hmac.compare_digest`` over SHA-256 digests: the
time taken says neither which key nearly matched nor how long any key is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.status import HTTP_401_UNAUTHORIZED

from api.errors import ApiError

# Shown in OpenAPI ("Authorize" in /docs); the check itself is ``ApiKeys.require``.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key from INTENT_API_KEYS.")


def key_id(key: str) -> str:
    """A short, stable name for a key, safe to log and to count by: not a prefix of the key nor
    of the digest it is compared by."""
    return "key-" + hashlib.sha256(b"intent-api key id\0" + key.encode()).hexdigest()[:12]


class ApiKeys:
    """The configured keys, kept as digests. ``enabled=False`` lets every request in."""

    def __init__(self, keys: Sequence[str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._entries = tuple((hashlib.sha256(key.encode()).digest(), key_id(key)) for key in keys)

    def identify(self, presented: str) -> str | None:
        """The id of the key ``presented`` matches, None when it matches none."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found = None
        for expected, name in self._entries:
            if hmac.compare_digest(digest, expected):  # no early exit: same work for any key
                found = name
        return found

    def require(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
        """Let the request in or raise a 401; records the key's id in ``request.state.key_id``
        (the rate limit's bucket and a log field)."""
        if not self.enabled:
            return
        if credentials is None or not credentials.credentials:
            raise ApiError(
                HTTP_401_UNAUTHORIZED,
                "unauthorized",
                "missing API key: send the header 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        name = self.identify(credentials.credentials)
        if name is None:
            raise ApiError(
                HTTP_401_UNAUTHORIZED,
                "unauthorized",
                "invalid API key: send a key from the API's INTENT_API_KEYS or key file",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request.state.key_id = name
