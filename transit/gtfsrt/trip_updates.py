"""Encoding TripUpdates: selected trips in, one serialized ``FeedEntity`` per trip out.

Every call of every trip in a batch is checked and encoded column-wise (see ``wire.py``):

* a StopTimeUpdate is kept only if its ``stop_id`` is in the static feed [E011] and the static
  ``stop_times`` of the trip have that stop at that ``stop_sequence`` [E045, E051], with
  ``stop_sequence`` strictly increasing along the trip [E002, E036].  Every update carries both
  ``stop_sequence`` and ``stop_id``, so loop trips that visit a stop twice are unambiguous [E009];
* times are whole POSIX seconds, strictly increasing from stop to stop (each arrival after the
  previous departure) [E022], with departure never before arrival [E025].  Where a prediction
  breaks that, the later value wins: ``y = t - k`` (k = the update's rank in the trip) turns the
  strict order into a non-decreasing one, and a running maximum per trip enforces it;
* every predicted time carries its uncertainty (one standard deviation, seconds).

Each trip's bytes depend only on its ``TripPrediction`` and the schedule, so the publisher keeps
them between snapshots and re-encodes only the trips the tracker replaced.
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from collections.abc import Sequence

import numpy as np

from transit.core.snapshot import CallPrediction, CallStatus, Snapshot
from transit.gtfsrt.selection import SelectedTrip, TripMode
from transit.gtfsrt.wire import (
    StringTable,
    exclusive_cumsum,
    length_delimited,
    put_varints,
    ragged_copy,
    string_field,
    varint,
    varint_bytes,
    varint_len,
)
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_time

# StopTimeUpdate.ScheduleRelationship
SCHEDULED, SKIPPED, NO_DATA, UNSCHEDULED = 0, 1, 2, 3

_STATUS_CODE = {CallStatus.SCHEDULED: SCHEDULED, CallStatus.SKIPPED: SKIPPED, CallStatus.NO_DATA: NO_DATA}
_GROUP_STRIDE = 1 << 40  # keeps one trip's running maximum from reaching into the next


class _ScheduleKeys:
    """Per schedule index: (trip, stop_sequence) keys of every stop-time row, and stop ids."""

    def __init__(self, index: ScheduleIndex) -> None:
        self.index = weakref.proxy(index)
        self.keys = (index.st_trip.astype(np.int64) << 32) | index.st_seq.astype(np.int64)
        self.stop_ids = StringTable(index.stop_ids)
        self._descriptors: dict[int, tuple[bytes, bytes]] = {}
        self._dates: dict[str, bytes] = {}

    def descriptor_parts(self, trip: int) -> tuple[bytes, bytes]:
        """TripDescriptor fields from the static feed: trip_id before start_date, route and
        direction after (fields in number order)."""
        parts = self._descriptors.get(trip)
        if parts is None:
            index = self.index
            tail = string_field(b"\x2a", index.route_ids[int(index.trip_route[trip])])  # route_id = 5
            direction = int(index.trip_direction[trip])
            if direction >= 0:
                tail += b"\x30" + varint(direction)  # direction_id = 6
            parts = self._descriptors[trip] = (string_field(b"\x0a", index.trip_ids[trip]), tail)
        return parts

    def date_field(self, service_date: str) -> bytes:
        field = self._dates.get(service_date)
        if field is None:
            field = self._dates[service_date] = string_field(b"\x1a", service_date)
        return field


_KEYS: weakref.WeakKeyDictionary[ScheduleIndex, _ScheduleKeys] = weakref.WeakKeyDictionary()


def _schedule_keys(index: ScheduleIndex) -> _ScheduleKeys:
    keys = _KEYS.get(index)
    if keys is None:
        keys = _KEYS[index] = _ScheduleKeys(index)
    return keys


def encode_trip_entities(
    selected: Sequence[SelectedTrip], index: ScheduleIndex, snapshot: Snapshot, now: float,
    dropped: Counter[str] | None = None,
) -> list[bytes | None]:
    """Serialized ``FeedEntity`` messages, one per selected trip (None: nothing valid left)."""
    dropped = dropped if dropped is not None else Counter()
    n_trips = len(selected)
    if n_trips == 0:
        return []
    keys = _schedule_keys(index)
    stop_pos = index.stop_pos

    calls: list[CallPrediction] = []
    counts = np.zeros(n_trips, dtype=np.int64)
    for g, sel in enumerate(selected):
        if sel.mode != TripMode.CANCELED:
            counts[g] = len(sel.trip.calls)
            calls.extend(sel.trip.calls)
    n = len(calls)
    group = np.repeat(np.arange(n_trips, dtype=np.int64), counts)
    # one list comprehension per field: far cheaper than a tuple per call
    seq = np.array([c.stop_sequence for c in calls], dtype=np.int64)
    stop = np.array([stop_pos.get(c.stop_id, -1) for c in calls], dtype=np.int64)
    arr = np.array([c.arrival_ts for c in calls], dtype=np.float64)
    dep = np.array([c.departure_ts for c in calls], dtype=np.float64)
    unc = np.array([c.uncertainty_s for c in calls], dtype=np.float64)
    status = np.array([_STATUS_CODE.get(c.status, SCHEDULED) for c in calls], dtype=np.int64)
    trip_idx = np.fromiter((s.trip_index for s in selected), dtype=np.int64, count=n_trips)
    mode = np.fromiter((int(s.mode) for s in selected), dtype=np.int64, count=n_trips)
    unsched = np.fromiter((s.unscheduled for s in selected), dtype=bool, count=n_trips)

    # ---- checks against the static feed
    key = (trip_idx[group] << 32) | seq
    row = np.searchsorted(keys.keys, key)
    found = row < len(keys.keys)
    row_c = np.where(found, row, 0)
    valid = found & (keys.keys[row_c] == key) & (stop >= 0)
    valid &= index.st_stop[row_c].astype(np.int64) == stop
    bad_stop = int(((stop < 0)).sum())
    if bad_stop:
        dropped["unknown_stop"] += bad_stop
    mismatch = int((~valid).sum()) - bad_stop
    if mismatch:
        dropped["stop_sequence_mismatch"] += mismatch
    same_trip = np.zeros(n, dtype=bool)
    same_trip[1:] = group[1:] == group[:-1]
    not_increasing = same_trip & np.concatenate(([False], seq[1:] <= seq[:-1]))
    if not_increasing.any():
        dropped["stop_sequence_order"] += int(not_increasing.sum())
        valid &= ~not_increasing

    # schedule-based trips: one NO_DATA update at the first valid call
    sched_based = mode[group] == int(TripMode.SCHEDULE_BASED)
    if sched_based.any():
        first_valid = valid & (_rank_in_group(valid, group, n_trips) == 0)
        valid &= ~sched_based | first_valid
        status = np.where(sched_based, NO_DATA, status)

    seq, stop, arr, dep, unc, status, group = (
        a[valid] for a in (seq, stop, arr, dep, unc, status, group)
    )
    n = len(seq)
    timed = status == SCHEDULED
    rel = np.where(timed & unsched[group], UNSCHEDULED, status)

    # ---- times: whole seconds, strictly increasing along each trip, departure >= arrival
    a_s = np.zeros(n, dtype=np.int64)
    d_s = np.zeros(n, dtype=np.int64)
    if timed.any():
        tg = group[timed]
        a = np.rint(arr[timed]).astype(np.int64)
        d = np.maximum(np.rint(dep[timed]).astype(np.int64), a)
        k = _rank_in_group(np.ones(len(tg), dtype=bool), tg, n_trips)
        y = np.empty(2 * len(tg), dtype=np.int64)
        offset = tg * _GROUP_STRIDE
        y[0::2] = a - k + offset
        y[1::2] = d - k + offset
        np.maximum.accumulate(y, out=y)
        a_s[timed] = y[0::2] - offset + k
        d_s[timed] = y[1::2] - offset + k
    u = np.clip(np.nan_to_num(np.rint(unc), nan=0.0), 0, 2**31 - 1).astype(np.int64)

    buf, stu_len = _encode_stop_time_updates(seq, stop, timed, a_s, d_s, u, rel, keys.stop_ids)
    block_len = np.bincount(group, weights=stu_len, minlength=n_trips).astype(np.int64)
    n_updates = np.bincount(group, minlength=n_trips)
    block_start = exclusive_cumsum(block_len)
    raw = buf.tobytes()

    out: list[bytes | None] = []
    for g, sel in enumerate(selected):
        if sel.mode != TripMode.CANCELED and n_updates[g] == 0:
            dropped["no_valid_calls"] += 1
            out.append(None)
            continue
        s = int(block_start[g])
        out.append(_entity(sel, keys, index, snapshot, now, raw[s:s + int(block_len[g])]))
    return out


def _rank_in_group(mask: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """For each element, how many ``mask`` elements of its group come before it."""
    c = np.cumsum(mask, dtype=np.int64) - mask
    if len(group) == 0:
        return c
    first = np.zeros(n_groups, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    first[group[starts]] = c[starts]
    return c - first[group]


def _encode_stop_time_updates(
    seq: np.ndarray, stop: np.ndarray, timed: np.ndarray, a_s: np.ndarray, d_s: np.ndarray,
    u: np.ndarray, rel: np.ndarray, stop_ids: StringTable,
) -> tuple[np.ndarray, np.ndarray]:
    """StopTimeUpdate fields (``0x12 len body`` each), concatenated; and each one's length."""
    n = len(seq)
    if n == 0:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    ti = timed.astype(np.int64)
    l_seq = 1 + varint_len(seq)
    l_unc = varint_len(u)
    ea = 1 + varint_len(a_s) + 1 + l_unc  # StopTimeEvent {time = 2, uncertainty = 3}
    ed = 1 + varint_len(d_s) + 1 + l_unc
    l_arr = ti * (1 + varint_len(ea) + ea)
    l_dep = ti * (1 + varint_len(ed) + ed)
    sid_len = stop_ids.lengths[stop]
    l_sid = 1 + varint_len(sid_len) + sid_len
    has_rel = rel != SCHEDULED
    l_rel = has_rel * 2
    body = l_seq + l_arr + l_dep + l_sid + l_rel
    l_body = varint_len(body)
    total = 1 + l_body + body
    start = exclusive_cumsum(total)
    out = np.zeros(int(total.sum()), dtype=np.uint8)

    out[start] = 0x12  # TripUpdate.stop_time_update = 2
    put_varints(out, start + 1, body, l_body)
    p = start + 1 + l_body
    out[p] = 0x08  # stop_sequence = 1
    put_varints(out, p + 1, seq, l_seq - 1)
    p = p + l_seq
    for tag, times, ev, length in ((0x12, a_s, ea, l_arr), (0x1A, d_s, ed, l_dep)):
        if timed.any():
            q, t, e = p[timed], times[timed], ev[timed]
            le = varint_len(e)
            out[q] = tag  # arrival = 2, departure = 3
            put_varints(out, q + 1, e, le)
            q = q + 1 + le
            out[q] = 0x10  # time = 2
            lt = varint_len(t)
            put_varints(out, q + 1, t, lt)
            q = q + 1 + lt
            out[q] = 0x18  # uncertainty = 3
            put_varints(out, q + 1, u[timed], l_unc[timed])
        p = p + length
    out[p] = 0x22  # stop_id = 4
    ls = varint_len(sid_len)
    put_varints(out, p + 1, sid_len, ls)
    ragged_copy(out, p + 1 + ls, stop_ids.buffer, stop_ids.starts[stop], sid_len)
    p = p + l_sid
    if has_rel.any():
        out[p[has_rel]] = 0x28  # schedule_relationship = 5
        out[p[has_rel] + 1] = rel[has_rel].astype(np.uint8)
    return out, total


def _entity(sel: SelectedTrip, keys: _ScheduleKeys, index: ScheduleIndex, snapshot: Snapshot, now: float,
            updates: bytes) -> bytes:
    trip = sel.trip
    t = sel.trip_index
    head, tail = keys.descriptor_parts(t)  # trip_id = 1 ... route_id = 5, direction_id = 6
    descriptor = head
    if index.is_frequency_trip(t):
        start_time = trip.start_time or format_gtfs_time(int(index.trip_first_dep_s[t]))
        descriptor += string_field(b"\x12", start_time)  # start_time = 2
    descriptor += keys.date_field(trip.service_date)  # start_date = 3
    if sel.mode == TripMode.CANCELED:
        descriptor += b"\x20\x03"  # schedule_relationship = 4: CANCELED
    elif sel.unscheduled:
        descriptor += b"\x20\x02"  # UNSCHEDULED
    descriptor += tail
    body = length_delimited(b"\x0a", descriptor) + updates  # trip = 1, stop_time_update = 2
    if trip.vehicle_id:
        vehicle = string_field(b"\x0a", trip.vehicle_id)  # VehicleDescriptor.id = 1
        state = snapshot.vehicles.get(trip.vehicle_id)
        if state is not None and state.label:
            vehicle += string_field(b"\x12", state.label)  # label = 2
        body += length_delimited(b"\x1a", vehicle)  # vehicle = 3
    if sel.mode == TripMode.REALTIME and trip.last_fix_ts is not None:
        # moment the progress was measured; never after the feed's own timestamp [E012]
        body += b"\x20" + varint(int(min(trip.last_fix_ts, now)))  # timestamp = 4
        if not sel.unscheduled and math.isfinite(trip.delay_s):
            body += b"\x28" + varint_bytes(max(-(2**31), min(2**31 - 1, round(trip.delay_s))))  # delay = 5
    entity = string_field(b"\x0a", trip.entity_id) + length_delimited(b"\x1a", body)  # id, trip_update
    return length_delimited(b"\x12", entity)  # FeedMessage.entity = 2
