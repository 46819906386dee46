"""Per-client request limits: a token bucket per IP address.

Each client may make ``rate_per_s`` requests a second on average and bursts of ``burst``; past
that it gets 429 with the seconds to wait in Retry-After.  The table of buckets is bounded: when
it grows past ``max_clients`` the buckets that have refilled completely (clients that went
quiet, which would start afresh anyway) are dropped.
"""

from __future__ import annotations

import math
from typing import Any


class RateLimiter:
    __slots__ = ("_buckets", "_limited", "burst", "max_clients", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float | None = None, max_clients: int = 100_000) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst if burst is not None else max(1.0, 2.0 * rate_per_s))
        self.max_clients = max_clients
        self._buckets: dict[str, list[float]] = {}
        self._limited = 0

    def check(self, client: str, now: float) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until one is there."""
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._sweep(now)
            self._buckets[client] = [self.burst - 1.0, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * self.rate_per_s
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        self._limited += 1
        return (1.0 - tokens) / self.rate_per_s

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """Retry-After takes whole seconds; round up so a client that obeys is let through."""
        return str(max(1, math.ceil(wait_s)))

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate_per_s
        for client in [c for c, (_, last) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[client]
        if len(self._buckets) >= self.max_clients:  # everyone is busy: forget the oldest half
            oldest = sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: len(self._buckets) // 2]
            for client, _ in oldest:
                del self._buckets[client]

    def statistics(self) -> dict[str, Any]:
        return {"clients": len(self._buckets), "limited": self._limited, "rate_per_s": self.rate_per_s,
                "burst": self.burst}
