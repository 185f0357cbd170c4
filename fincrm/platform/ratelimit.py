"""Fixed-window rate limiting in the Django cache.

    allowed, retry_after = hit("api:token:12", limit=600, window=60)

counts one call against ``key`` in the current window (windows start at multiples of
``window`` seconds since the epoch) and answers whether it is within ``limit``; when it is
not, ``retry_after`` is the number of whole seconds until the window ends (else 0).

The counter lives in the default cache, so every web worker sharing that cache (Redis in
production) shares the count; with the local-memory cache each process counts alone.
"""

from __future__ import annotations

import math
import time

from django.core.cache import cache


class RateLimited(Exception):
    """Too many calls in the current window; the API answers 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


def _clock() -> float:
    return time.time()


def hit(key: str, limit: int, window: int = 60, *, now: float | None = None) -> tuple[bool, int]:
    current = _clock() if now is None else now
    window_start = int(current // window) * window
    cache_key = f"fincrm:ratelimit:{key}:{window_start}"
    # add() is a no-op when the counter exists; incr() is atomic on Redis and locmem.
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.set(cache_key, 1, timeout=window + 1)
        count = 1
    if count <= limit:
        return True, 0
    return False, max(1, math.ceil(window_start + window - current))


def enforce(key: str, limit: int, window: int = 60, *, now: float | None = None) -> None:
    """hit(), raising RateLimited when over the limit."""
    allowed, retry_after = hit(key, limit, window, now=now)
    if not allowed:
        raise RateLimited(retry_after)
