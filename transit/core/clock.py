"""Injected clocks.

Pure code takes ``now`` (POSIX seconds) as an argument.  Long-lived async components take a
:class:`Clock` so that replays run on simulated time and tests skip sleeps (the trio habit of
shipping the test double with the code).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """POSIX seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to.  ``sleep`` returns once ``advance`` passes its deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    def set(self, now: float) -> None:
        self.advance(now - self._now)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), fut))
        await fut


class ScaledClock:
    """Simulated time that runs ``factor`` times faster than the wall clock, from ``start``.

    Used by ``transit replay --speed`` and the demo's time-lapse.
    """

    def __init__(self, start: float, factor: float) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._start = start
        self._factor = factor
        self._wall0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._wall0) * self._factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._factor)
