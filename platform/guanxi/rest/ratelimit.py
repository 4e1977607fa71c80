"""Rate limiting (API-01): a token bucket per API token (or per signed-in user) holding
settings.api_rate_limit requests and refilling at that many per minute. Buckets live in the
worker process: with N workers a client may get up to N times the limit (documented)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_BUCKETS = 50_000


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until one request is allowed again (0 when allowed)

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}


class RateLimiter:
    """Called from the event loop only (no awaits inside `take`), so it needs no lock."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, per_minute)
        self.rate = self.limit / 60.0
        self.clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}

    def take(self, key: Hashable) -> Decision:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.limit), now)
        else:
            bucket.tokens = min(self.limit, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(True, self.limit, int(bucket.tokens), 0)
        wait = math.ceil((1.0 - bucket.tokens) / self.rate)
        return Decision(False, self.limit, 0, max(1, wait))

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (their clients would start full anyway)."""
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self.rate < self.limit
        }
        if len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()
