"""When to try again and how long to wait first."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a server's Retry-After wins, up to a cap.

    >>> RetryPolicy(max_retries=3, backoff_base=0.1, backoff_max=5, retry_after_cap=10).delay(
    ...     2, retry_after=30.0
    ... )
    10
    """

    max_retries: int
    backoff_base: float
    backoff_max: float
    retry_after_cap: float

    def delay(
        self,
        retry_number: int,
        *,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry ``retry_number`` (0 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * 2**retry_number)
        return ceiling * rng()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """A Retry-After header (delay seconds or an HTTP date) as seconds from now; None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(when.timestamp() - now, 0.0)
