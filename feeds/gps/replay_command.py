"""``transit replay FILE...``: feed recorded AVL through the same ingest path as live GPS.

Time is simulated: the service clock follows the recording, at full speed (as fast as the
pipeline commits) or ``--speed FACTOR`` times real time, so validation judges each fix against
the moment it was recorded.  In-process, fixes go to an :class:`IngestPipeline` on the configured
database; with ``--url`` they are POSTed as JSON batches to a running service instead (whose
clock is real: ``--shift-to-now`` moves a recording to the present).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import sys
import time
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feeds.gps.replay import AvlFile, AvlFormatError, load_avl, parse_column_mapping
from transit.core.clock import Clock, ManualClock, ScaledClock
from transit.core.fix import Fix
from transit.core.ingest import FixSink, IngestUnavailable, SubmitResult
from transit.core.rejection import Rejection, RejectionKind
from transit.settings import Settings

SOURCE = "replay"


@dataclass
class ReplayCounts:
    read: int = 0
    stored: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    elapsed_s: float = 0.0
    first_ts: float | None = None
    last_ts: float | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add_rejections(self, rejections: Sequence[Rejection]) -> None:
        for r in rejections:
            self.rejected[str(r.kind)] += 1


class _DiscardStream:
    """Nothing tracks a replay run by this command: count the live fixes, keep none."""

    def __init__(self) -> None:
        self.enqueued = 0

    def put_nowait(self, fixes: Sequence[Fix]) -> None:
        self.enqueued += len(fixes)

    async def get_batch(self, max_fixes: int, max_wait_s: float) -> list[Fix]:  # pragma: no cover
        """No reader: nothing is ever handed on (a tracked replay posts to a service with --url)."""
        await asyncio.Event().wait()
        return []


async def replay_fixes(
    fixes: Sequence[Fix],
    sink: FixSink,
    clock: Clock,
    *,
    speed: float | None = None,
    chunk: int = 5000,
    source: str = SOURCE,
) -> ReplayCounts:
    """Submit time-sorted ``fixes`` to ``sink`` on simulated time.

    ``clock`` is the clock the sink validates against: a :class:`ManualClock` for full speed
    (set to each chunk's last fix before it is submitted) or a :class:`ScaledClock` started at
    the first fix for ``speed``.
    """
    counts = ReplayCounts()
    if not fixes:
        return counts
    counts.first_ts, counts.last_ts = fixes[0].ts, fixes[-1].ts
    started = time.perf_counter()
    i = 0
    n = len(fixes)
    while i < n:
        if speed is None:
            j = min(n, i + chunk)
            if isinstance(clock, ManualClock) and fixes[j - 1].ts > clock.now():
                clock.set(fixes[j - 1].ts)
        else:
            now = clock.now()
            if fixes[i].ts > now:
                await clock.sleep(fixes[i].ts - now)
                continue
            j = i
            now = clock.now()
            while j < n and j - i < chunk and fixes[j].ts <= now:
                j += 1
        result = await _submit_with_retry(sink, fixes[i:j], source)
        counts.stored += result.stored
        counts.add_rejections(result.rejections)
        i = j
    counts.elapsed_s = time.perf_counter() - started
    return counts


async def _submit_with_retry(sink: FixSink, fixes: Sequence[Fix], source: str) -> SubmitResult:
    for attempt in range(30):
        try:
            return await sink.submit(fixes, source)
        except IngestUnavailable as exc:
            if attempt == 29:
                raise
            print(f"  ingest unavailable ({exc.reason}); retrying in {exc.retry_after_s:g} s", file=sys.stderr)
            await asyncio.sleep(exc.retry_after_s)
    raise AssertionError("unreachable")


class HttpSink:
    """A FixSink that POSTs JSON batches to a running service's /api/v1/ingest/positions."""

    def __init__(self, url: str, token: str | None) -> None:
        self._url = url.rstrip("/") + "/api/v1/ingest/positions"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: Any = None

    async def __aenter__(self) -> HttpSink:
        import aiohttp

        self._session = aiohttp.ClientSession(headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult:
        items = [{k: v for k, v in dataclasses.asdict(f).items()
                  if v is not None and k not in ("source", "received_ts")} for f in fixes]
        async with self._session.post(self._url, json={"positions": items}) as resp:
            body = await resp.json(content_type=None)
            if resp.status == 503:
                raise IngestUnavailable(body.get("error", {}).get("message", "503"),
                                        float(resp.headers.get("Retry-After", "5")))
            if resp.status != 200:
                message = body.get("error", {}).get("message", body) if isinstance(body, dict) else body
                raise RuntimeError(f"{self._url} answered {resp.status}: {message}")
        rejections = tuple(Rejection(r["index"], RejectionKind(r["kind"]), r["detail"]) for r in body["rejected"])
        return SubmitResult(body["accepted"], rejections)


# ---------------------------------------------------------------------- the command
def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "replay", help="replay recorded AVL (CSV) through the ingest pipeline",
        description="Read AVL CSV files (WMATA/TheTransitClock or Capital Metro columns, detected from "
        "the header, or any layout with --columns) and feed them to the ingest pipeline on simulated "
        "time. Prints rows read, fixes stored and rejections by kind.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="AVL CSV file (.csv or .csv.gz)")
    p.add_argument("--columns", help="column mapping FIELD=COLUMN,... added to (or replacing) the detected "
                   "layout; fields: vehicle_id,time,lat,lon,speed_mps,speed_kmh,bearing_deg,trip_id,"
                   "route_id,block_id,label,odometer_m,assignment_id,assignment_type")
    p.add_argument("--timezone", help="zone of times written without an offset (default: the active GTFS "
                   "feed's agency zone, else TRANSIT_TIMEZONE)")
    p.add_argument("--speed", type=float, metavar="FACTOR",
                   help="replay FACTOR times faster than real time (default: as fast as possible)")
    p.add_argument("--url", help="POST to a running service at this base URL instead of writing the "
                   "database in-process")
    p.add_argument("--token", help="ingest token for --url (default: TRANSIT_INGEST_TOKEN)")
    p.add_argument("--shift-to-now", action="store_true",
                   help="move the recording in time so that it ends now (or, with --speed, starts now); "
                   "for --url, whose service judges fixes by its real clock")
    p.add_argument("--chunk", type=int, default=5000, help="fixes per submission (default 5000)")
    p.add_argument("--source", default=SOURCE, help="source label in metrics and the positions table")
    p.set_defaults(handler=run_replay)


async def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    if args.speed is not None and args.speed <= 0:
        print("transit replay: --speed must be greater than zero", file=sys.stderr)
        return 2
    try:
        columns = parse_column_mapping(args.columns) if args.columns else None
    except AvlFormatError as exc:
        print(f"transit replay: {exc}", file=sys.stderr)
        return 2
    if args.url:
        zone = args.timezone or settings.timezone
        files = _load_all(args, zone, columns)
        if files is None:
            return 1
        async with HttpSink(args.url, args.token or settings.ingest.token) as sink:
            for avl in files:
                fixes = _shifted(avl, args)
                _report(avl, await _replay_one(avl, fixes, sink, args, _clock_for(fixes, args)), zone)
        return 0

    from feeds.gps.pipeline import IngestPipeline
    from transit.app.runtime import database
    from transit.app.services import Services

    async with database(settings) as db:
        zone = args.timezone or await db.pool.fetchval(
            "SELECT agency_timezone FROM feed_versions WHERE status = 'active'") or settings.timezone
        files = _load_all(args, zone, columns)
        if files is None:
            return 1
        for avl in files:
            fixes = _shifted(avl, args)
            clock = _clock_for(fixes, args)
            services = Services(settings=settings, pool=db.pool, clock=clock)
            pipeline = IngestPipeline.from_services(services, fix_stream=_DiscardStream())
            await pipeline.start()
            try:
                counts = await _replay_one(avl, fixes, pipeline, args, clock)
            finally:
                await pipeline.close(timeout_s=settings.http.shutdown_timeout_s)
            _report(avl, counts, zone)
    return 0


def _load_all(args: argparse.Namespace, zone: str, columns: dict[str, str] | None) -> list[AvlFile] | None:
    files = []
    for path in args.files:
        try:
            files.append(load_avl(path, timezone=zone, columns=columns, source=args.source))
        except (AvlFormatError, OSError) as exc:
            print(f"transit replay: {exc}", file=sys.stderr)
            return None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            print(f"transit replay: unknown time zone {zone!r} (e.g. America/New_York, Asia/Shanghai)",
                  file=sys.stderr)
            return None
    return files


def _shifted(avl: AvlFile, args: argparse.Namespace) -> list[Fix]:
    """With --shift-to-now the recording ends now (full speed: every fix already happened) or
    starts now (with --speed: each fix is sent as its moment comes)."""
    if not args.shift_to_now or not avl.fixes:
        return avl.fixes
    anchor = avl.fixes[0].ts if args.speed else avl.fixes[-1].ts
    offset = time.time() - anchor
    return [dataclasses.replace(f, ts=f.ts + offset) for f in avl.fixes]


def _clock_for(fixes: Sequence[Fix], args: argparse.Namespace) -> Clock:
    start = fixes[0].ts if fixes else time.time()
    return ScaledClock(start, args.speed) if args.speed else ManualClock(start)


async def _replay_one(
    avl: AvlFile, fixes: Sequence[Fix], sink: FixSink, args: argparse.Namespace, clock: Clock
) -> ReplayCounts:
    """``clock`` paces the submissions; with --url the service validates on its own clock."""
    counts = await replay_fixes(fixes, sink, clock, speed=args.speed, chunk=max(1, args.chunk), source=args.source)
    counts.read = avl.rows
    counts.add_rejections(avl.rejections)
    return counts


def _report(avl: AvlFile, counts: ReplayCounts, zone: str) -> None:
    import datetime as dt

    tz = zoneinfo.ZoneInfo(zone)
    print(f"replay {avl.path} ({avl.format} columns)")
    print(f"  rows read   {counts.read:>9,}")
    print(f"  stored      {counts.stored:>9,}")
    print(f"  rejected    {counts.rejected_total:>9,}")
    for kind, n in sorted(counts.rejected.items()):
        print(f"    {kind:<20} {n:>7,}")
    for r in avl.rejections[:5]:
        print(f"    e.g. {r.detail}")
    if counts.first_ts is not None and counts.last_ts is not None:
        first = dt.datetime.fromtimestamp(counts.first_ts, tz).isoformat()
        last = dt.datetime.fromtimestamp(counts.last_ts, tz).isoformat()
        rate = counts.stored / counts.elapsed_s if counts.elapsed_s > 0 else 0.0
        print(f"  recorded    {first} .. {last}")
        print(f"  replayed in {counts.elapsed_s:.2f} s ({rate:,.0f} fixes/s)")
