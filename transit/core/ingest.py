"""The two small interfaces between GPS sources, storage and the tracker.

``FixSink`` is what every source (HTTP, poller, replay, JT/T 808, the demo simulator) hands its
validated fixes to.  ``submit`` returns only once the fixes are committed to PostgreSQL, which is
what lets a source acknowledge them; it raises :class:`IngestUnavailable` rather than drop
anything it cannot keep.

``FixStream`` is how committed live fixes reach the tracker.  In one process it is an in-memory
queue; later, NATS JetStream subjects partitioned by vehicle will implement the same interface
between ingest nodes and tracker shards.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from transit.core.fix import Fix
from transit.core.rejection import Rejection


class IngestUnavailable(Exception):
    """Fixes were refused (storage unreachable and the buffer full, or shutting down)."""

    def __init__(self, reason: str, retry_after_s: float = 5.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class SubmitResult:
    stored: int
    #: Fixes refused at submit time (duplicates, ...); indexes are positions in the submitted list.
    rejections: tuple[Rejection, ...] = field(default=())


class FixSink(Protocol):
    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult: ...


class FixStream(Protocol):
    def put_nowait(self, fixes: Sequence[Fix]) -> None: ...

    async def get_batch(self, max_fixes: int, max_wait_s: float) -> list[Fix]:
        """Wait for at least one fix, then gather more for up to ``max_wait_s``."""
        ...


class MemoryFixStream:
    """Bounded in-process queue.  When full, the oldest fixes are dropped and counted: they are
    already durable in PostgreSQL, and the tracker rebuilds from there."""

    def __init__(self, max_fixes: int = 1_000_000) -> None:
        self._queue: collections.deque[Fix] = collections.deque()
        self._max = max_fixes
        self._ready = asyncio.Event()
        self.dropped = 0
        self.enqueued = 0

    def put_nowait(self, fixes: Sequence[Fix]) -> None:
        self._queue.extend(fixes)
        self.enqueued += len(fixes)
        overflow = len(self._queue) - self._max
        for _ in range(max(0, overflow)):
            self._queue.popleft()
            self.dropped += 1
        if self._queue:
            self._ready.set()

    async def get_batch(self, max_fixes: int, max_wait_s: float) -> list[Fix]:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        if len(self._queue) < max_fixes and max_wait_s > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + max_wait_s
            while len(self._queue) < max_fixes:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._ready.clear()
                try:
                    await asyncio.wait_for(self._ready.wait(), remaining)
                except TimeoutError:
                    break
        n = min(max_fixes, len(self._queue))
        return [self._queue.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._queue)

    def statistics(self) -> dict[str, Any]:
        return {"queued": len(self._queue), "enqueued": self.enqueued, "dropped": self.dropped}
