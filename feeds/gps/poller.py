"""Polling GTFS-Realtime VehiclePositions feeds (``ingest.gtfs_rt_feeds``).

Each feed is fetched at its own interval with a conditional request (If-None-Match with the last
ETag, If-Modified-Since with the last Last-Modified), under a timeout.  A 304, or a feed whose
header timestamp did not move since the last one ingested, is skipped without decoding the rest.
After a failure (HTTP error, timeout, connection error, a body that is not a FeedMessage, or the
ingest pipeline refusing) the next poll waits ``interval * 2**failures``, up to ``max_backoff_s``.
Health (last success, last error, entities read) is kept per feed for ``/metrics`` and
``GET /api/v1/admin/feeds``.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from feeds.gps.gtfsrt import FeedDecodeError, fixes_from_feed, parse_feed
from feeds.gps.metrics import FeedMetrics, get_ingest_metrics
from feeds.gps.validate import format_instant
from transit.core.clock import Clock
from transit.core.ingest import FixSink, IngestUnavailable

log = logging.getLogger(__name__)

POLL_SOURCE = "gtfs-rt-poll"


@dataclass(frozen=True, slots=True)
class PolledFeed:
    name: str
    url: str
    interval_s: float = 15.0
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    max_backoff_s: float = 300.0


def list_polled_feeds(raw: Sequence[Mapping[str, Any]]) -> list[PolledFeed]:
    """The feeds of ``settings.ingest.gtfs_rt_feeds`` (checked there: url and interval_s)."""
    feeds = []
    for i, item in enumerate(raw):
        url = str(item["url"])
        interval = float(item.get("interval_s", 15.0))
        parsed = urllib.parse.urlsplit(url)
        name = str(item.get("name") or f"{parsed.netloc}{parsed.path}" or f"feed{i}")
        feeds.append(PolledFeed(
            name=name,
            url=url,
            interval_s=interval,
            headers={str(k): str(v) for k, v in dict(item.get("headers") or {}).items()},
            timeout_s=float(item.get("timeout_s", min(10.0, max(1.0, interval)))),
            max_backoff_s=float(item.get("max_backoff_s", max(300.0, interval))),
        ))
    return feeds


@dataclass
class FeedHealth:
    name: str
    url: str
    polls: int = 0
    last_poll_ts: float | None = None
    last_success_ts: float | None = None
    last_error_ts: float | None = None
    last_error: str | None = None
    last_result: str | None = None
    consecutive_errors: int = 0
    entities_read: int = 0
    last_entities: int = 0
    fixes_accepted: int = 0
    fixes_rejected: int = 0
    not_modified: int = 0
    unchanged: int = 0
    header_ts: float | None = None
    next_poll_ts: float | None = None

    def as_json(self) -> dict[str, Any]:
        def when(ts: float | None) -> str | None:
            return None if ts is None else format_instant(ts)

        return {
            "name": self.name,
            "url": _redact_url(self.url),
            "polls": self.polls,
            "last_result": self.last_result,
            "last_poll": when(self.last_poll_ts),
            "last_success": when(self.last_success_ts),
            "last_error": when(self.last_error_ts),
            "last_error_message": self.last_error,
            "consecutive_errors": self.consecutive_errors,
            "entities_read": self.entities_read,
            "last_entities": self.last_entities,
            "fixes_accepted": self.fixes_accepted,
            "fixes_rejected": self.fixes_rejected,
            "not_modified": self.not_modified,
            "unchanged": self.unchanged,
            "header_timestamp": when(self.header_ts),
            "next_poll": when(self.next_poll_ts),
        }


def _redact_url(url: str) -> str:
    """Feeds often carry an API key in the query: show only its name."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query and "@" not in parts.netloc:
        return url
    query = urllib.parse.urlencode([(k, "***") for k, _ in urllib.parse.parse_qsl(parts.query)])
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class FeedPoller:
    def __init__(
        self,
        feed: PolledFeed,
        sink: FixSink,
        session: aiohttp.ClientSession,
        clock: Clock,
        metrics: FeedMetrics,
        registry: Any,
    ) -> None:
        self.feed = feed
        self.health = FeedHealth(feed.name, feed.url)
        self._sink = sink
        self._session = session
        self._clock = clock
        self._metrics = metrics
        self._ingest_metrics = get_ingest_metrics(registry)
        self._etag: str | None = None
        self._last_modified: str | None = None

    def next_delay_s(self) -> float:
        errors = self.health.consecutive_errors
        if errors == 0:
            return self.feed.interval_s
        return min(self.feed.max_backoff_s, self.feed.interval_s * 2.0 ** min(errors, 30))

    async def run(self) -> None:
        """Poll until cancelled; the first poll is immediate."""
        while True:
            await self.poll_once()
            delay = self.next_delay_s()
            self.health.next_poll_ts = self._clock.now() + delay
            await self._clock.sleep(delay)

    async def poll_once(self) -> str:
        """One poll; returns "ok", "not_modified", "unchanged" or "error"."""
        health = self.health
        health.polls += 1
        health.last_poll_ts = self._clock.now()
        try:
            result = await self._poll()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = "error"
            self._record_error(_describe(exc, self.feed.timeout_s))
        else:
            health.last_success_ts = self._clock.now()
            health.consecutive_errors = 0
            self._metrics.last_success.labels(self.feed.name).set(health.last_success_ts)
            self._metrics.consecutive_errors.labels(self.feed.name).set(0)
        health.last_result = result
        self._metrics.polls.labels(self.feed.name, result).inc()
        return result

    def _record_error(self, message: str) -> None:
        health = self.health
        health.consecutive_errors += 1
        health.last_error = message
        health.last_error_ts = self._clock.now()
        self._metrics.last_error.labels(self.feed.name).set(health.last_error_ts)
        self._metrics.consecutive_errors.labels(self.feed.name).set(health.consecutive_errors)
        log.warning("gtfs-rt feed %s: %s (next try in %g s)", self.feed.name, message, self.next_delay_s())

    async def _poll(self) -> str:
        headers = {"Accept": "application/x-protobuf, application/octet-stream;q=0.9, */*;q=0.5",
                   **self.feed.headers}
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        timeout = aiohttp.ClientTimeout(total=self.feed.timeout_s)
        async with self._session.get(self.feed.url, headers=headers, timeout=timeout) as resp:
            if resp.status == 304:
                self.health.not_modified += 1
                return "not_modified"
            if resp.status != 200:
                text = (await resp.text(errors="replace"))[:200].strip()
                raise _PollError(f"HTTP {resp.status} {resp.reason}" + (f": {text}" if text else ""))
            body = await resp.read()
            etag = resp.headers.get("ETag")
            last_modified = resp.headers.get("Last-Modified")
        message = parse_feed(body)
        health = self.health
        header_ts = float(message.header.timestamp) or None
        if header_ts is not None and header_ts == health.header_ts:
            health.unchanged += 1
            self._etag, self._last_modified = etag, last_modified
            return "unchanged"
        feed = fixes_from_feed(message, received_ts=self._clock.now(), source=POLL_SOURCE)
        health.last_entities = feed.entities
        health.entities_read += feed.entities
        self._metrics.entities.labels(self.feed.name).inc(feed.entities)
        self._ingest_metrics.count_rejections(POLL_SOURCE, feed.rejections)
        result = await self._sink.submit(feed.fixes, source=POLL_SOURCE) if feed.fixes else None
        # Only now is the feed's content safe: remember what we saw, so that a failed submit is
        # fetched and offered again rather than skipped as unchanged.
        self._etag, self._last_modified = etag, last_modified
        health.header_ts = feed.header_ts
        if feed.header_ts is not None:
            self._metrics.header_timestamp.labels(self.feed.name).set(feed.header_ts)
        accepted = result.stored if result else 0
        health.fixes_accepted += accepted
        health.fixes_rejected += len(feed.rejections) + (len(result.rejections) if result else 0)
        return "ok"


class _PollError(Exception):
    pass


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, FeedDecodeError | _PollError):
        return str(exc)
    if isinstance(exc, IngestUnavailable):
        return f"ingest refused the fixes: {exc.reason}"
    if isinstance(exc, aiohttp.ClientError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"
