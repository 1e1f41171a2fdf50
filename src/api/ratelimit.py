"""The per-key rate limit, by slowapi: each API key has its own budget (``INTENT_API_RATE_LIMIT``).

The limit's bucket is the key's id (``api.auth.key_id``), never the key: slowapi logs the bucket
of a request it refuses. With ``INTENT_API_AUTH=off`` there are no keys and the bucket is the
caller's address. Counters live in this process (``WindowCounts``); several API processes each
count their own.
"""

from __future__ import annotations

import math
import threading
import time
from typing import ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse
from limits.storage import Storage
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

from api.errors import error_body


def rate_limit_key(request: Request) -> str:
    return getattr(request.state, "key_id", None) or get_remote_address(request)


class WindowCounts(Storage):
    """Fixed-window counters in this process: a storage for ``limits`` (which slowapi runs on),
    registered as ``intent-api-memory://``.

    ``limits``' own ``memory://`` storage expires counters from a timer thread that lives 10 ms
    and is started again by the next request after it ends: at a few hundred requests a second,
    a thread start on the event loop every few requests (0.1 ms each, idle; far more on a busy
    machine). Here a counter past its window reads as zero and is replaced by the next request;
    a sweep every ``SWEEP_EVERY`` increments drops the counters nobody touches any more.
    """

    STORAGE_SCHEME: ClassVar[list[str]] = ["intent-api-memory"]
    SWEEP_EVERY = 4096

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, window's end)
        self._lock = threading.Lock()
        self._increments = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            count, ends = self._counts.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + expiry
            count += amount
            self._counts[key] = (count, ends)
            self._increments += 1
            if self._increments % self.SWEEP_EVERY == 0:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            return count

    def get(self, key: str) -> int:
        count, ends = self._counts.get(key, (0, 0.0))
        return count if ends > time.time() else 0

    def get_expiry(self, key: str) -> float:
        _, ends = self._counts.get(key, (0, 0.0))
        return max(ends, time.time())

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            cleared, self._counts = len(self._counts), {}
        return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


def build_limiter() -> Limiter:
    # headers_enabled=False: slowapi would then need a Response parameter on every route; the
    # 429 below computes Retry-After itself.
    return Limiter(
        key_func=rate_limit_key,
        headers_enabled=False,
        storage_uri="intent-api-memory://",
        strategy="fixed-window",
    )


async def handle_rate_limited(request: Request, exc: Exception) -> JSONResponse:
    """429 with ``Retry-After``: the seconds until the key's window lets a request through."""
    assert isinstance(exc, RateLimitExceeded)
    limiter: Limiter = request.app.state.limiter
    retry_after = 1
    hit = getattr(request.state, "view_rate_limit", None)  # (limit item, its storage key parts)
    if hit is not None:
        item, parts = hit
        reset_at, _remaining = limiter.limiter.get_window_stats(item, *parts)
        retry_after = max(1, math.ceil(reset_at - time.time()))
    return JSONResponse(
        error_body(
            "rate_limited",
            f"rate limit of {exc.detail} exceeded for this API key; retry in {retry_after} s",
        ),
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )
