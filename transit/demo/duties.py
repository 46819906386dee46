"""Which bus drives which trips on a service date: the simulator's duties.

A duty is one vehicle's day: the trips of one block in time order, or, for trips without a
block (frequency-based trips, feeds that publish no blocks), a chain formed the way a dispatcher
would: a bus that finished a trip takes the next trip starting near where it stopped, after a
minimum layover, first in first out.  Any GTFS therefore gives buses that run back and forth
with layovers, which is what carries a delay from one trip to the next.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from dataclasses import dataclass

import numpy as np

from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import frequency_offsets


@dataclass(frozen=True, slots=True)
class TripRun:
    """One trip instance a duty runs (a frequency-based trip has one per headway)."""

    trip: int
    service_date: dt.date
    day_start_ts: float
    offset_s: int
    start_ts: float  # scheduled departure from the first stop
    end_ts: float  # scheduled arrival at the last stop
    frequency: bool = False


@dataclass(frozen=True, slots=True)
class Duty:
    #: Stable over days: blocks are numbered by block id, chains after them in start order.
    number: int
    service_date: dt.date
    block_id: str | None
    runs: tuple[TripRun, ...]

    @property
    def start_ts(self) -> float:
        return self.runs[0].start_ts

    @property
    def end_ts(self) -> float:
        return self.runs[-1].end_ts

    @property
    def key(self) -> int:
        """Unique per (service date, duty): seeds the duty's randomness."""
        return self.service_date.toordinal() * 1_000_000 + self.number


def runs_on(index: ScheduleIndex, day: dt.date) -> list[TripRun]:
    """Every trip instance of service date ``day`` that can be driven (two calls or more)."""
    start = index.day_start(day)
    calls = np.diff(index.trip_st_start)
    running = index.trips_running_on(day) & (calls >= 2)
    has_freq = np.diff(index.trip_freq_start) > 0
    out: list[TripRun] = []
    first = index.trip_first_dep_s
    last = index.trip_last_arr_s
    for trip in np.flatnonzero(running & ~has_freq):
        out.append(TripRun(int(trip), day, start, 0, start + float(first[trip]), start + float(last[trip])))
    for trip in np.flatnonzero(running & has_freq):
        span = float(last[trip] - first[trip])
        for offset in frequency_offsets(index, int(trip)).tolist():
            b = start + float(first[trip]) + offset
            out.append(TripRun(int(trip), day, start, offset, b, b + span, frequency=True))
    return out


def build_duties(
    index: ScheduleIndex, day: dt.date, *, min_layover_s: float = 60.0, max_layover_s: float = 3600.0,
    join_m: float = 400.0,
) -> list[Duty]:
    runs = runs_on(index, day)
    by_block: dict[int, list[TripRun]] = {}
    loose: list[TripRun] = []
    for run in runs:
        block = int(index.trip_block[run.trip])
        if block >= 0 and not run.frequency:
            by_block.setdefault(block, []).append(run)
        else:
            loose.append(run)
    duties = [
        Duty(block, day, index.block_ids[block], tuple(sorted(rs, key=lambda r: (r.start_ts, r.trip))))
        for block, rs in sorted(by_block.items())
    ]
    chains = _chain(index, loose, min_layover_s, max_layover_s, join_m)
    base = len(index.block_ids)
    duties += [Duty(base + i, day, None, tuple(chain)) for i, chain in enumerate(chains)]
    return duties


def _end_point(index: ScheduleIndex, trip: int, last: bool) -> tuple[float, float]:
    row = int(index.trip_st_start[trip + 1] - 1) if last else int(index.trip_st_start[trip])
    stop = int(index.st_stop[row])
    return float(index.stop_x[stop]), float(index.stop_y[stop])


def _chain(
    index: ScheduleIndex, runs: list[TripRun], min_layover_s: float, max_layover_s: float, join_m: float
) -> list[list[TripRun]]:
    """Greedy first-in-first-out chaining of unblocked trip instances at nearby terminals."""
    chains: list[list[TripRun]] = []
    cell = max(join_m, 1.0)
    # grid cell -> heap of (ready_ts, chain index); a chain is waiting in exactly one cell
    waiting: dict[tuple[int, int], list[tuple[float, int]]] = {}
    ends: dict[int, tuple[float, float, float, float]] = {}  # chain -> (end_ts, x, y, ready_ts) while waiting
    for run in sorted(runs, key=lambda r: (r.start_ts, r.trip)):
        x, y = _end_point(index, run.trip, last=False)
        cx, cy = math.floor(x / cell), math.floor(y / cell)
        best: tuple[float, int] | None = None
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                heap = waiting.get((cx + dx, cy + dy))
                while heap and ends.get(heap[0][1], (0, 0, 0, None))[3] != heap[0][0]:
                    heapq.heappop(heap)  # taken already
                for ready, chain in heap or ():
                    end_ts, ex, ey, current = ends.get(chain, (0, 0, 0, None))
                    if current != ready or ready > run.start_ts or run.start_ts - end_ts > max_layover_s:
                        continue
                    if math.hypot(ex - x, ey - y) > join_m:
                        continue
                    if best is None or (ready, chain) < best:
                        best = (ready, chain)
        if best is None:
            chains.append([run])
            chain = len(chains) - 1
        else:
            chain = best[1]
            chains[chain].append(run)
            del ends[chain]
        ex, ey = _end_point(index, run.trip, last=True)
        ready = run.end_ts + min_layover_s
        ends[chain] = (run.end_ts, ex, ey, ready)
        key = (math.floor(ex / cell), math.floor(ey / cell))
        heapq.heappush(waiting.setdefault(key, []), (ready, chain))
    return chains


def pick_duties(index: ScheduleIndex, duties: list[Duty], limit: int | None) -> list[Duty]:
    """``limit`` duties spread over the lines: the earliest duty of each line, then the next of
    each, and so on, so a small fleet still shows every line."""
    if limit is None or limit >= len(duties):
        return duties
    by_route: dict[int, list[Duty]] = {}
    for duty in sorted(duties, key=lambda d: (d.start_ts, d.number)):
        by_route.setdefault(int(index.trip_route[duty.runs[0].trip]), []).append(duty)
    picked: list[Duty] = []
    depth = 0
    while len(picked) < limit:
        for route in sorted(by_route):
            if depth < len(by_route[route]) and len(picked) < limit:
                picked.append(by_route[route][depth])
        depth += 1
    return sorted(picked, key=lambda d: d.number)
