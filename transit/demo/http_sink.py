"""Fixes sent the way an outside AVL system sends them: ``POST /api/v1/ingest/positions``.

The demo routes a share of its buses through the service's own HTTP JSON endpoint (token,
JSON schema, validation, rejections in the answer), so that path is exercised whenever the demo
runs, not only the in-process sink.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from transit.core.fix import Fix
from transit.core.ingest import FixSink, IngestUnavailable, SubmitResult
from transit.core.rejection import Rejection, RejectionKind

log = logging.getLogger(__name__)

_OPTIONAL = ("speed_mps", "bearing_deg", "trip_id", "route_id", "block_id", "start_date", "start_time", "label")


def fix_json(fix: Fix) -> dict[str, Any]:
    item: dict[str, Any] = {"vehicle_id": fix.vehicle_id, "ts": fix.ts, "lat": fix.lat, "lon": fix.lon}
    for name in _OPTIONAL:
        value = getattr(fix, name)
        if value is not None:
            item[name] = value
    return item


class HttpJsonSink:
    """A :class:`FixSink` that posts to a running service; 503 and network errors become
    :class:`IngestUnavailable`, so callers keep the fixes and retry."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/v1/ingest/positions"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult:
        body = {"positions": [fix_json(f) for f in fixes]}
        try:
            async with self._session.post(self._url, json=body, headers=self._headers, timeout=self._timeout) as resp:
                answer = await resp.json(content_type=None)
                if resp.status == 503:
                    raise IngestUnavailable(str(answer), float(resp.headers.get("Retry-After", "5")))
                if resp.status != 200:
                    raise IngestUnavailable(f"HTTP {resp.status}: {answer}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise IngestUnavailable(f"{self._url}: {type(exc).__name__}: {exc}") from None
        rejections = tuple(
            Rejection(int(r.get("index", -1)), _kind(r.get("kind")), str(r.get("detail", "")))
            for r in answer.get("rejected", [])
        )
        return SubmitResult(int(answer.get("accepted", 0)), rejections)


def _kind(value: Any) -> RejectionKind:
    try:
        return RejectionKind(value)
    except ValueError:
        return RejectionKind.BAD_VALUE


class SplitSink:
    """Sends the fixes ``pick`` chooses to ``other`` and the rest to ``main``.

    A refusal by ``other`` does not fail the whole submit (``main`` already took its part): its
    fixes wait in a queue of their own and go first next time.
    """

    def __init__(self, main: FixSink, other: FixSink, pick: Callable[[Fix], bool], max_queued: int = 50_000) -> None:
        self._main = main
        self._other = other
        self._pick = pick
        self._queued: list[Fix] = []
        self._max = max_queued
        self.other_failures = 0

    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult:
        mine = [f for f in fixes if not self._pick(f)]
        theirs = self._queued + [f for f in fixes if self._pick(f)]
        self._queued = []
        main_result, other_result = await asyncio.gather(
            self._main.submit(mine, source) if mine else _nothing(),
            self._other.submit(theirs, source) if theirs else _nothing(),
            return_exceptions=True,
        )
        if isinstance(other_result, IngestUnavailable):
            self.other_failures += 1
            log.warning("the HTTP ingest path refused %d fixes (%s); they wait", len(theirs), other_result.reason)
            self._queued = theirs[-self._max:]
        elif isinstance(other_result, BaseException):
            raise other_result
        if isinstance(main_result, BaseException):
            raise main_result
        stored = main_result.stored + (other_result.stored if isinstance(other_result, SubmitResult) else 0)
        return SubmitResult(stored, main_result.rejections)


async def _nothing() -> SubmitResult:
    return SubmitResult(0)
