"""Turning queued submissions into one batch: duplicates, order, and the rows to COPY.

Pure (no I/O): :class:`VehicleOrder` remembers, per vehicle, the newest fix forwarded to live
tracking and the newest written, and :meth:`VehicleOrder.form` decides for each fix of a batch:

* a second copy of the same (vehicle, ts) in the batch is a duplicate;
* a fix is forwarded to live tracking only if the source marked it live and it is newer than the
  newest already forwarded for its vehicle (older ones are stored with ``live = false``);
* the batch is *certainly new* when every fix is newer than anything written for its vehicle,
  which lets the pipeline COPY it straight into ``positions``.

Batches are formed one at a time in arrival order, so these decisions are made in that order
even though batches then commit in parallel.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from transit.core.fix import Fix

UTC = dt.UTC
_fromtimestamp = dt.datetime.fromtimestamp

#: One row of ``positions``, in the column order of ``feeds.gps.store.COLUMNS``.
Record = tuple[Any, ...]


@dataclass(eq=False)
class Submission:
    """One ``submit`` call waiting for its commit."""

    fixes: list[Fix]
    source: str
    received_ts: float
    enqueued: float
    future: asyncio.Future[list[tuple[int, str]]]
    #: (index into ``fixes``, why) for fixes found to be duplicates.
    duplicates: list[tuple[int, str]] = field(default_factory=list)


@dataclass(eq=False)
class Batch:
    seq: int
    submissions: list[Submission]
    records: list[Record]
    #: Live, in-order fixes to forward after the commit, sorted by time.
    forward: list[Fix]
    certain_new: bool
    min_ts: float
    max_ts: float
    out_of_order: collections.Counter[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def size(self) -> int:
        return sum(len(s.fixes) for s in self.submissions)

    def owners(self) -> list[tuple[int, int]]:
        """(submission number, index in its fixes) of each record; for the rare paths."""
        out: list[tuple[int, int]] = []
        for si, sub in enumerate(self.submissions):
            skipped = {li for li, _ in sub.duplicates}
            out.extend((si, li) for li in range(len(sub.fixes)) if li not in skipped)
        return out


class VehicleOrder:
    def __init__(self) -> None:
        self.newest_live: dict[str, float] = {}
        self.newest_written: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.newest_written)

    def form(self, submissions: list[Submission], seq: int) -> Batch:
        """The batch of ``submissions``; records this batch's fixes as written and forwarded.

        Written straight-line for speed: it runs once per fix at the full ingest rate.
        """
        newest_live = self.newest_live
        newest_written = self.newest_written
        batch_live: dict[str, float] = {}
        batch_written: dict[str, float] = {}
        seen: set[tuple[str, float]] = set()
        records: list[Record] = []
        forward: list[Fix] = []
        out_of_order: collections.Counter[str] = collections.Counter()
        certain = True
        min_ts = math.inf
        max_ts = -math.inf
        neg_inf = -math.inf
        # GPS times repeat across vehicles (whole seconds): build each datetime once.
        instants: dict[float, dt.datetime] = {}
        for sub in submissions:
            source = sub.source
            default_received = sub.received_ts
            received_ts = default_received
            received_dt = _fromtimestamp(received_ts, UTC)
            for li, fix in enumerate(sub.fixes):
                vid = fix.vehicle_id
                ts = fix.ts
                when = instants.get(ts)
                if when is None:
                    when = instants[ts] = _fromtimestamp(ts, UTC)
                key = (vid, ts)
                if key in seen:
                    sub.duplicates.append((li, "appears more than once in this batch"))
                    continue
                seen.add(key)
                if ts < min_ts:
                    min_ts = ts
                if ts > max_ts:
                    max_ts = ts
                written = newest_written.get(vid)
                if written is None or ts <= written:
                    certain = False
                if ts > batch_written.get(vid, neg_inf):
                    batch_written[vid] = ts
                live = fix.live and ts > newest_live.get(vid, neg_inf)
                if live:
                    forward.append(fix)
                    if ts > batch_live.get(vid, neg_inf):
                        batch_live[vid] = ts
                else:
                    out_of_order[source] += 1
                rts = fix.received_ts or default_received
                if rts != received_ts:
                    received_ts = rts
                    received_dt = _fromtimestamp(rts, UTC)
                records.append((
                    vid, when, fix.lat, fix.lon, fix.speed_mps, fix.bearing_deg, fix.trip_id,
                    fix.route_id, fix.block_id, fix.start_date, fix.start_time, fix.label,
                    fix.odometer_m, source, live, received_dt,
                ))
        for vid, ts in batch_written.items():
            if ts > newest_written.get(vid, neg_inf):
                newest_written[vid] = ts
        newest_live.update(batch_live)  # batch_live only holds values above newest_live
        if len(forward) > 1:
            forward.sort(key=_by_ts)
        return Batch(seq, submissions, records, forward, certain, min_ts, max_ts, out_of_order)


def _by_ts(fix: Fix) -> float:
    return fix.ts
